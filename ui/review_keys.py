"""Keys pressed while the page reruns are kept, in order, for the focus panel.

Streamlit's own button shortcuts (``st.button(shortcut=...)``) drop a key pressed while the script
is still running: measured in Chromium on the Review page with 30 pairs, 8 presses of A at 30 ms
apart accepted 1 pair, at 150 ms apart 2, at 400 ms apart all 8 (one rerun takes about 0.3 s there).
A key press only sets the button's one-shot trigger; presses before the run that reads it ends
fall together, and a press meant for the next pair cannot be aimed at it before that pair shows.

:func:`key_queue` puts a small script of ours into the page (``st.html`` with JavaScript, run once
per browser tab, kept across reruns): it takes the focus panel's letter keys before Streamlit
sees them (capture phase; not in a text field, not with Ctrl/Alt/Meta, not while a dialog is
open, only on a page showing that button), queues them, and clicks the matching button for one key at a time, each once the page has
finished its run (``data-test-script-state="notRunning"`` on ``stApp``) and is connected. A key
whose button is disabled at its turn (Previous on the first pair) is dropped, as a click on it
would be. The script is in place (``window.__dgKeyQueue`` exists) about half a second after the
page first shows (measured in Chromium); keys pressed before that reach Streamlit's shortcuts. The buttons keep their ``shortcut=`` so their key shows on them and works without
JavaScript.
"""

from __future__ import annotations

import json

import streamlit as st

_SCRIPT = """
<script>
(() => {
  const keys = %s;
  const w = window;
  w.__dgKeys = keys;  // the newest mapping, read at every press
  if (w.__dgKeyQueue) return;
  const queue = [];
  w.__dgKeyQueue = queue;
  const app = () => document.querySelector("[data-testid='stApp']");
  const idle = () => {
    const a = app();
    return a && a.dataset.testScriptState === "notRunning" && a.dataset.testConnectionState === "CONNECTED";
  };
  const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  let busy = false;
  const pump = () => {
    if (busy || !queue.length) return;
    if (!idle()) { setTimeout(pump, 30); return; }
    const button = document.querySelector(`.st-key-${queue.shift()} button`);
    if (!button || button.disabled) { setTimeout(pump, 0); return; }
    busy = true;
    button.click();
    const started = Date.now();
    const settle = () => {  // wait for the run the click starts to begin, then for it to end
      const running = app() && app().dataset.testScriptState === "running";
      if (running || Date.now() - started > 1500) { waitEnd(); } else { setTimeout(settle, 15); }
    };
    const waitEnd = () => { if (idle()) { busy = false; pump(); } else { setTimeout(waitEnd, 30); } };
    settle();
  };
  document.addEventListener("keydown", (event) => {
    const target = w.__dgKeys[event.key.toLowerCase()];
    if (!target || event.ctrlKey || event.altKey || event.metaKey || event.repeat) return;
    if (typing(event.target) || typing(document.activeElement) || document.querySelector("[role='dialog']")) return;
    if (!document.querySelector(`.st-key-${target}`)) return;  // another page: Streamlit's own shortcuts
    event.preventDefault();
    event.stopImmediatePropagation();
    queue.push(target);
    pump();
  }, true);
})();
</script>
"""


def key_queue(keys: dict[str, str]) -> None:
    """Queue presses of the letter keys in ``keys`` (lower-case letter → the ``key=`` of the
    button it presses) while the page reruns, and press each button in turn once the run ends
    (see the module docstring). Draws nothing visible."""
    mapping = {letter.lower(): button for letter, button in keys.items()}
    st.html(_SCRIPT % json.dumps(mapping, sort_keys=True), unsafe_allow_javascript=True)
