# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report of a resource group: one self-contained HTML file (pure).

:func:`render` takes plain data - each host's load over the sampled window, its VMs with their
SLA class, the group's imbalance, and the rebalance plan with its reasons - and returns the page:
inline CSS and SVG charts, no script, no external file, so that it opens anywhere (a mail, a CI
artifact, a browser without network).
"""

from __future__ import annotations

import re
from html import escape

SLA_COLOURS = {"gold": "#b8860b", "silver": "#6b7280", "bronze": "#a0522d"}
CHART_W, CHART_H = 320, 90

CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;background:#f4f5f7;color:#1f2933}
header{background:#1f2933;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px;font-weight:600}
header p{margin:4px 0 0;color:#cbd2d9;font-size:13px}
main{padding:20px 28px}
.summary{display:flex;gap:16px;flex-wrap:wrap;margin-bottom:18px}
.tile{background:#fff;border-radius:8px;padding:12px 18px;box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:150px}
.tile .v{font-size:26px;font-weight:600}
.tile .l{font-size:12px;color:#52606d;text-transform:uppercase;letter-spacing:.04em}
.ok{color:#2f855a}.warn{color:#c05621}.bad{color:#c53030}
.hosts{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:16px}
.host{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.host h2{margin:0 0 4px;font-size:17px;display:flex;justify-content:space-between}
.host .meta{font-size:12px;color:#52606d;margin-bottom:6px}
.bar{height:8px;background:#e4e7eb;border-radius:4px;overflow:hidden;margin:2px 0 8px}
.bar span{display:block;height:100%;background:#3182ce}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;color:#52606d;font-weight:500;border-bottom:1px solid #e4e7eb;padding:3px 4px}
td{padding:3px 4px;border-bottom:1px solid #f0f2f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.sla{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:11px}
section.plan{background:#fff;border-radius:8px;padding:14px 16px;margin-top:18px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
section.plan h2{margin:0 0 8px;font-size:17px}
ol.moves li{margin:6px 0}
.arrow{font-weight:600}
.reason{color:#52606d;font-size:13px}
.tag{display:inline-block;background:#fde68a;color:#744210;border-radius:4px;padding:0 5px;font-size:11px;margin-left:6px}
"""


def pct(value):
    return "—" if value is None else "%.0f %%" % (100.0 * value)


def _tone(load, high):
    if load is None:
        return ""
    if load > high:
        return "bad"
    return "warn" if load > 0.8 * high else "ok"


def chart(series, high, width=CHART_W, height=CHART_H, span_s=None):
    """An SVG line chart of a host's load over time, with the threshold; scale 0..max(1, peak).

    The readings are drawn evenly spaced (the sampler takes them on a fixed beat) and at whole
    pixels, over ``span_s`` seconds (the sampled window; the readings' own span without it), so
    that the same loads draw the same chart: see :func:`same_page`."""
    top = max([1.0] + [v for _t, v in series])
    parts = ['<svg width="100%%" height="%d" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img">'
             % (height, width, height),
             '<rect width="%d" height="%d" fill="#f8fafc" rx="4"/>' % (width, height)]
    y_high = height - height * high / top
    parts.append('<line x1="0" x2="%d" y1="%.1f" y2="%.1f" stroke="#c53030" stroke-dasharray="4 3" stroke-width="1"/>'
                 % (width, y_high, y_high))
    parts.append('<text x="%d" y="%.1f" font-size="10" fill="#c53030" text-anchor="end">%s</text>'
                 % (width - 4, max(y_high - 3, 10), escape(pct(high))))
    if len(series) >= 2:
        span = span_s if span_s is not None else series[-1][0] - series[0][0]
        last = len(series) - 1
        points = ["%d,%d" % (round(width * i / last), round(height - height * min(v, top) / top))
                  for i, (_t, v) in enumerate(series)]
        area = "0,%d %s %d,%d" % (height, " ".join(points), width, height)
        parts.append('<polygon points="%s" fill="#bee3f8" opacity=".6"/>' % area)
        parts.append('<polyline points="%s" fill="none" stroke="#2b6cb0" stroke-width="2"/>' % " ".join(points))
        parts.append('<text x="4" y="%d" font-size="10" fill="#52606d">-%.0f s</text>' % (height - 4, span))
        parts.append('<text x="%d" y="%d" font-size="10" fill="#52606d" text-anchor="end">now</text>' % (width - 4, height - 4))
    else:
        parts.append('<text x="%d" y="%d" font-size="11" fill="#52606d" text-anchor="middle">one reading only</text>'
                     % (width // 2, height // 2))
    parts.append('<text x="4" y="11" font-size="10" fill="#52606d">%s</text>' % escape(pct(top)))
    parts.append("</svg>")
    return "".join(parts)


def _sla_badge(sla):
    colour = SLA_COLOURS.get(sla, "#4a5568")
    return '<span class="sla" style="background:%s">%s</span>' % (colour, escape(sla or "—"))


def _host_card(name, host, high, span_s=None):
    tone = _tone(host["load"], high)
    rows = []
    for vm in sorted(host["vms"], key=lambda v: (-(v.get("cpu_cpus") or 0), v["name"])):
        rows.append("<tr><td>%s</td><td>%s</td><td class='n'>%d</td><td class='n'>%s</td><td class='n'>%d MiB</td></tr>" % (
            escape(vm["name"]), _sla_badge(vm.get("sla")), vm.get("vcpus") or 0,
            "—" if vm.get("cpu_percent") is None else "%.0f %%" % vm["cpu_percent"], int(vm.get("memory_mib") or 0)))
    maintenance = '<span class="tag">maintenance</span>' if host.get("in_maintenance") else ""
    memory = min(host.get("memory_committed") or 0.0, 1.0)
    return (
        '<div class="host"><h2><span>%s%s</span><span class="%s">%s</span></h2>'
        '<div class="meta">%d CPUs · %d VMs · %d vCPUs committed · memory committed %s</div>'
        '<div class="bar"><span style="width:%.1f%%"></span></div>%s'
        '<table><tr><th>VM</th><th>SLA</th><th>vCPUs</th><th>CPU</th><th>memory</th></tr>%s</table></div>'
        % (escape(name), maintenance, tone, escape(pct(host["load"])), host.get("cpus") or 0, len(host["vms"]),
           host.get("vcpus_committed") or 0, escape(pct(host.get("memory_committed"))), 100.0 * memory,
           chart(host.get("series") or [], high, span_s=span_s), "".join(rows) or "<tr><td colspan='5'>no running VM</td></tr>"))


def _plan_section(plan):
    moves = plan.get("moves") or []
    if moves:
        items = "".join('<li><span class="arrow">%s: %s → %s</span><br><span class="reason">%s</span></li>'
                        % (escape(m["vm"]), escape(m["from"]), escape(m["to"]), escape(m["reason"])) for m in moves)
        body = '<ol class="moves">%s</ol>' % items
    else:
        body = "<p>%s</p>" % escape("; ".join(plan.get("notes") or ["nothing to do"]))
    skipped = plan.get("skipped") or {}
    if skipped:
        body += "<details><summary>%d VM(s) that stay, and why</summary><table>%s</table></details>" % (
            len(skipped), "".join("<tr><td>%s</td><td class='reason'>%s</td></tr>" % (escape(k), escape(v))
                                  for k, v in sorted(skipped.items())))
    before, after = plan.get("loads_before") or {}, plan.get("loads_after") or {}
    if moves and before:
        body += "<p class='reason'>Host loads after the plan: %s</p>" % escape(", ".join(
            "%s %s → %s" % (name, pct(before[name]), pct(after.get(name))) for name in sorted(before)))
    triggers = "; ".join(plan.get("triggers") or []) or "none"
    return ('<section class="plan"><h2>Rebalance plan <span class="reason">(imbalance %.2f → %.2f; triggers: %s)</span></h2>%s</section>'
            % (plan.get("imbalance_before", 0.0), plan.get("imbalance_after", 0.0), escape(triggers), body))


def render(data):
    """The page for ``data``::

        {"group": "lab", "generated": "2026-11-29 12:00 UTC", "window_s": 60, "cpu_high": 0.8,
         "imbalance": 0.21, "max_imbalance": 0.1,
         "hosts": {"hv1": {"load", "cpus", "vcpus_committed", "memory_committed", "in_maintenance",
                           "series": [[t, load], ...],
                           "vms": [{"name", "sla", "vcpus", "cpu_percent", "cpu_cpus", "memory_mib"}]}},
         "unreachable": {"hv4": "why"}, "plan": <RebalancePlan.as_dict()>}
    """
    high = data.get("cpu_high", 0.8)
    hosts = data.get("hosts") or {}
    loads = [h["load"] for h in hosts.values() if h.get("load") is not None]
    hot = [n for n, h in sorted(hosts.items()) if h.get("load") is not None and h["load"] > high]
    imbalance = data.get("imbalance", 0.0)
    verdict, tone = ("balanced", "ok")
    if hot:
        verdict, tone = ("hot: " + ", ".join(hot), "bad")
    elif imbalance > data.get("max_imbalance", 0.1):
        verdict, tone = ("out of balance", "warn")
    tiles = [
        ("group", escape(str(data.get("group", ""))), ""),
        ("verdict", escape(verdict), tone),
        ("imbalance", "%.2f" % imbalance, "bad" if imbalance > data.get("max_imbalance", 0.1) else "ok"),
        ("mean load", pct(sum(loads) / len(loads)) if loads else "—", ""),
        ("hosts / VMs", "%d / %d" % (len(hosts), sum(len(h["vms"]) for h in hosts.values())), ""),
        ("moves planned", str(len((data.get("plan") or {}).get("moves") or [])), ""),
    ]
    unreachable = data.get("unreachable") or {}
    warning = ""
    if unreachable:
        warning = '<p class="bad">Not measured: %s</p>' % escape("; ".join("%s (%s)" % kv for kv in sorted(unreachable.items())))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Capacity of %s</title><style>%s</style></head><body>"
        "<header><h1>Capacity of resource group %s</h1><p><time>%s</time> · load sampled over %s s · threshold %s</p></header>"
        "<main><div class='summary'>%s</div>%s<div class='hosts'>%s</div>%s</main></body></html>\n"
        % (escape(str(data.get("group", ""))), CSS, escape(str(data.get("group", ""))), escape(str(data.get("generated", ""))),
           escape("%g" % data.get("window_s", 0)), escape(pct(high)),
           "".join('<div class="tile"><div class="l">%s</div><div class="v %s">%s</div></div>' % (label, tone_, value)
                   for label, value, tone_ in tiles),
           warning, "".join(_host_card(n, h, high, data.get("window_s")) for n, h in sorted(hosts.items())), _plan_section(data.get("plan") or {})))


_STAMP = re.compile(r"<time>[^<]*</time>")


def same_page(old, new):
    """Whether the page ``old`` (a file's text, None when there is none) shows what ``new`` shows:
    equal but for the time it was generated.  The capacity report rewrites its file only when
    they differ, so that a group measured the same gives ``changed=false``."""
    if old is None:
        return False
    return _STAMP.sub("<time></time>", old) == _STAMP.sub("<time></time>", new)
