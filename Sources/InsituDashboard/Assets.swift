/// The dashboard's stylesheet and script, served from `/ui/app.css` and `/ui/app.js` so that the
/// Content-Security-Policy can forbid every inline style and script.
public enum DashboardAssets {
    /// Re-fetches each `[data-live]` section from its URL every two seconds until it is marked
    /// final, and appends new log lines to a `[data-log]` block. Everything it inserts is HTML the
    /// server rendered and escaped; the page works without it (reload by hand).
    public static let script = """
        "use strict";
        document.documentElement.dataset.script = "on";
        async function fetchFragment(url) {
          const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
          if (response.status === 401 || response.redirected) { location.reload(); return null; }
          if (!response.ok) return null;
          const holder = document.createElement("div");
          holder.innerHTML = await response.text();
          return holder.firstElementChild;
        }
        function refreshSection(section) {
          if (section.dataset.final === "true") return;
          setTimeout(async () => {
            try {
              const next = await fetchFragment(section.dataset.live);
              if (next) { section.replaceWith(next); section = next; }
            } catch (error) { /* the next round tries again */ }
            refreshSection(section);
          }, 2000);
        }
        function followLog(log) {
          if (log.dataset.final === "true") return;
          setTimeout(async () => {
            let full = false;
            try {
              const chunk = await fetchFragment(log.dataset.log + "&after=" + log.dataset.after);
              if (chunk) {
                full = chunk.dataset.full === "true";
                while (chunk.firstChild) log.appendChild(chunk.firstChild);
                log.dataset.after = chunk.dataset.next;
                log.dataset.final = chunk.dataset.final;
              }
            } catch (error) { /* the next round tries again */ }
            followLog(log);
          }, full ? 0 : 1000);
        }
        document.querySelectorAll("[data-live]").forEach(refreshSection);
        document.querySelectorAll("[data-log]").forEach(followLog);
        """

    public static let stylesheet = """
        :root {
          --ink: #1f2328; --muted: #636c76; --line: #d8dee4; --soft: #f6f8fa; --accent: #0b5cad;
          --ok: #1a7f37; --ok-bg: #dafbe1; --run: #0550ae; --run-bg: #ddf4ff; --wait: #7d4e00; --wait-bg: #fff8c5;
          --bad: #cf222e; --bad-bg: #ffebe9; --off: #57606a; --off-bg: #eaeef2;
        }
        * { box-sizing: border-box; }
        body { margin: 0; color: var(--ink); background: #fff;
          font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans", "DejaVu Sans", sans-serif; }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
        header.top { display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 52px; background: #24292f; color: #fff; }
        header.top .brand { color: #fff; font-weight: 700; font-size: 16px; letter-spacing: .02em; }
        header.top nav a { color: #d0d7de; margin-right: 16px; padding: 15px 0; border-bottom: 2px solid transparent; }
        header.top nav a[aria-current="page"] { color: #fff; border-bottom-color: #fd8c73; }
        header.top .who { margin-left: auto; display: flex; align-items: center; gap: 12px; color: #d0d7de; }
        header.top .who form { margin: 0; }
        button.link { background: none; border: 0; color: #d0d7de; cursor: pointer; font: inherit; padding: 0; }
        button.link:hover { color: #fff; text-decoration: underline; }
        main { max-width: 1200px; margin: 0 auto; padding: 24px; }
        footer { max-width: 1200px; margin: 0 auto; padding: 12px 24px 32px; color: var(--muted); font-size: 12px; }
        h1 { font-size: 22px; margin: 0 0 4px; font-weight: 600; }
        h2 { font-size: 16px; margin: 28px 0 10px; font-weight: 600; }
        .subtitle { color: var(--muted); margin: 0 0 20px; }
        .muted { color: var(--muted); }
        .headline { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
        table { width: 100%; border-collapse: collapse; border: 1px solid var(--line); border-radius: 6px; }
        th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { white-space: nowrap; background: var(--soft); font-weight: 600; font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
        tr:last-child td { border-bottom: 0; }
        td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
        td .mono { white-space: nowrap; }
        .empty { padding: 24px; text-align: center; color: var(--muted); border: 1px dashed var(--line); border-radius: 6px; }
        .state { display: inline-block; padding: 1px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
        .state.completed, .state.succeeded, .state.connected { color: var(--ok); background: var(--ok-bg); }
        .state.running, .state.dispatched { color: var(--run); background: var(--run-bg); }
        .state.pending, .state.queued, .state.suspect { color: var(--wait); background: var(--wait-bg); }
        .state.failed, .state.lost, .state.disconnected { color: var(--bad); background: var(--bad-bg); }
        .state.stopped, .state.cancelled { color: var(--off); background: var(--off-bg); }
        .chip { display: inline-block; padding: 0 8px; margin: 1px 2px 1px 0; border: 1px solid var(--line); border-radius: 4px;
          background: var(--soft); font-size: 12px; white-space: nowrap; }
        .chip.warn { color: var(--wait); background: var(--wait-bg); border-color: #d4a72c; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 24px; margin: 0; padding: 16px;
          border: 1px solid var(--line); border-radius: 6px; }
        dl.facts.wide { grid-template-columns: max-content 1fr max-content 1fr; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; overflow-wrap: anywhere; }
        .reason { margin: 12px 0 0; padding: 10px 14px; border-left: 3px solid var(--line); background: var(--soft); overflow-wrap: anywhere; }
        .reason.failed { border-left-color: var(--bad); background: var(--bad-bg); }
        .reason.queued { border-left-color: #d4a72c; background: var(--wait-bg); }
        ul.plain { margin: 0; padding-left: 18px; }
        meter { width: 90px; height: 8px; vertical-align: middle; margin-right: 6px; }
        ol.timeline { list-style: none; margin: 0; padding: 0; border-left: 2px solid var(--line); }
        ol.timeline li { position: relative; padding: 2px 0 10px 18px; }
        ol.timeline li::before { content: ""; position: absolute; left: -6px; top: 8px; width: 10px; height: 10px; border-radius: 50%;
          background: #fff; border: 2px solid var(--muted); }
        ol.timeline li.jobStateChanged::before, ol.timeline li.submitted::before { border-color: var(--accent); background: var(--accent); }
        ol.timeline time { color: var(--muted); font-size: 12px; margin-right: 8px; font-variant-numeric: tabular-nums; }
        pre.log { margin: 0; padding: 14px 16px; min-height: 120px; max-height: 70vh; overflow: auto; background: #0d1117; color: #e6edf3;
          border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
        pre.log .stderr { color: #ff9b95; }
        pre.log .src { color: #7d8590; }
        .actions { display: flex; gap: 16px; margin: 8px 0 0; }
        .filters { display: flex; gap: 8px; margin: 0 0 16px; flex-wrap: wrap; }
        .filters a { padding: 2px 10px; border: 1px solid var(--line); border-radius: 999px; color: var(--ink); }
        .filters a[aria-current="page"] { background: var(--ink); color: #fff; border-color: var(--ink); }
        form.login { max-width: 460px; margin: 48px auto; padding: 28px; border: 1px solid var(--line); border-radius: 8px; }
        form.login label { display: block; font-weight: 600; margin: 16px 0 6px; }
        form.login input { width: 100%; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
        form.login button { margin-top: 16px; padding: 8px 16px; border: 0; border-radius: 6px; background: var(--ok); color: #fff;
          font: inherit; font-weight: 600; cursor: pointer; }
        .alert { padding: 10px 14px; border-radius: 6px; background: var(--bad-bg); color: var(--bad); margin: 12px 0; overflow-wrap: anywhere; }
        .grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
        @media (max-width: 800px) { .grid2, dl.facts.wide { grid-template-columns: 1fr; } }
        """
}
