/**
 * The status page's only style and script, inlined into every page (no external assets: the page
 * works offline and behind any proxy). The script refreshes `[data-refresh]` fragments, appends
 * live log lines (as text, never as HTML), and sends the buttons' actions with the CSRF token.
 */

/** How often the overview and an environment's details are fetched again. */
const REFRESH_MS = 2_000;
/** How often an environment page asks for new log lines. */
const LOG_POLL_MS = 1_000;
/** Log lines an environment page keeps; older ones leave the page (they stay in the ring). */
const LOG_LINES_KEPT = 500;

export const STYLE = `
:root{color-scheme:light dark;--fg:#1d232b;--muted:#6b7480;--bg:#f6f7f9;--card:#fff;--line:#dde1e6;--ok:#137333;--bad:#b3261e;--warn:#8a5a00;--accent:#2456c7}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#9aa3ad;--bg:#14171b;--card:#1c2026;--line:#2d333b;--ok:#5fcf80;--bad:#ff7b72;--warn:#e3b341;--accent:#79a6ff}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1em;align-items:center;padding:.6em 1em;background:var(--card);border-bottom:1px solid var(--line)}
.brand{font-weight:700;color:var(--fg);text-decoration:none;margin-right:auto}.who{color:var(--muted);font-size:.9em}
main{padding:1em;max-width:1200px;margin:0 auto}h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:1.2em 0 .4em}
a{color:var(--accent)}.muted,.empty{color:var(--muted)}.bad,.error{color:var(--bad)}.inline{display:inline;margin:0}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line)}th,td{text-align:left;padding:.45em .6em;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8em;text-transform:uppercase;letter-spacing:.03em;color:var(--muted)}.version{font-family:ui-monospace,monospace}
.badge{display:inline-block;padding:.05em .5em;border-radius:1em;font-size:.8em;font-weight:600;border:1px solid currentColor}
.s-online{color:var(--ok)}.s-error{color:var(--bad)}.s-updating{color:var(--warn)}.s-new{color:var(--muted)}.reason{color:var(--muted);font-size:.85em}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1em;margin-bottom:1em}
.signin{max-width:22em;margin:3em auto}.signin label{display:block;margin:.6em 0}.signin input{display:block;width:100%;padding:.5em;margin-top:.2em;font:inherit}
button{font:inherit;padding:.35em .9em;border-radius:4px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
button.link{background:none;border:none;color:var(--accent);padding:0}button:disabled{opacity:.5}
.log{list-style:none;margin:0;padding:.5em;background:var(--card);border:1px solid var(--line);font:12px/1.5 ui-monospace,monospace;max-height:60vh;overflow:auto;white-space:pre-wrap;word-break:break-word}
pre{white-space:pre-wrap;word-break:break-word;font:12px/1.5 ui-monospace,monospace;background:var(--bg);padding:.5em;border-radius:4px}.summary{margin:.2em 0 .6em}
.events{list-style:none;padding:0;margin:0}.events li{margin:.25em 0;padding-left:.5em;border-left:3px solid var(--line)}.events li.bad{border-left-color:var(--bad)}.events time{color:var(--muted);font-size:.85em}
.log time{color:var(--muted)}.log code{color:var(--muted)}.t-error,.t-fatal{color:var(--bad)}.t-warn{color:var(--warn)}.message{min-height:1.2em}
@media (max-width:700px){thead{display:none}table,tbody,tr,td{display:block;width:100%}tr{border-bottom:2px solid var(--line);padding:.3em 0}
td{border:none;padding:.15em .6em}td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:.85em}}
`;

export const PAGE_SCRIPT = `(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  // Polls stop when the page is left through a form (Sign out): one still in flight as the session
  // ends would come back 401, which a browser reports as a console error. The form is sent once
  // those in flight have settled.
  let leaving = false;
  const inFlight = new Set();
  const loop = (ms, fn) => {
    const next = () => setTimeout(() => {
      if (leaving) return;
      const run = fn().catch(() => {});
      inFlight.add(run);
      run.finally(() => { inFlight.delete(run); next(); });
    }, ms);
    next();
  };
  document.addEventListener('submit', (event) => {
    if (leaving) return;
    event.preventDefault();
    leaving = true;
    const form = event.target;
    Promise.allSettled([...inFlight]).then(() => form.submit());
  });
  const get = async (url) => {
    const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html, application/json' } });
    if (r.status === 401) { location.reload(); throw new Error('signed out'); }
    if (!r.ok) throw new Error(url + ' answered ' + r.status);
    return r;
  };
  for (const el of document.querySelectorAll('[data-refresh]')) {
    loop(${REFRESH_MS}, async () => { el.innerHTML = await (await get(el.dataset.refresh)).text(); });
  }
  const log = document.querySelector('[data-log]');
  if (log) {
    log.scrollTop = log.scrollHeight;
    loop(${LOG_POLL_MS}, async () => {
      const lines = await (await get(log.dataset.log + '?after=' + encodeURIComponent(log.dataset.after))).json();
      if (lines.length === 0) return;
      const follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 20;
      for (const l of lines) {
        const li = document.createElement('li');
        li.className = 't-' + (l.threshold || 'none');
        const time = document.createElement('time');
        time.textContent = l.timestamp.slice(11, 23);
        const id = document.createElement('code');
        id.textContent = l.containerId;
        li.append(time, ' ', id, ' ', l.message);
        log.append(li);
        log.dataset.after = l._id;
      }
      while (log.children.length > ${LOG_LINES_KEPT}) log.firstElementChild.remove();
      if (follow) log.scrollTop = log.scrollHeight;
    });
  }
  const message = document.querySelector('.message');
  document.addEventListener('click', async (event) => {
    const button = event.target.closest && event.target.closest('button[data-action]');
    if (!button || !confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      const r = await fetch(location.pathname + '/' + button.dataset.action, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ version: button.dataset.version }),
      });
      const body = await r.json().catch(() => ({}));
      if (message) message.textContent = r.ok ? button.textContent + ': started (job ' + body.job + ')' : (body.description || 'failed: ' + r.status);
    } finally {
      button.disabled = false;
    }
  });
})();`;
