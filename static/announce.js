/* Tells screen readers the current expression without flooding them: the text goes into a polite
 * live region (role="status") only when it changed, once the change has held for settleMs, and at
 * most once every gapMs. Results come 30 times a second; a reader hears "happy", then, a few
 * seconds later and only if the face changed, "neutral". */
'use strict';

class Announcer {
  constructor(region, { gapMs = 4000, settleMs = 1000, now = () => performance.now() } = {}) {
    this.region = region;
    this.gapMs = gapMs;
    this.settleMs = settleMs;
    this.now = now;
    this.last = region.textContent || '';  // what was said last
    this.lastAt = -Infinity;
    this.candidate = this.last;            // the newest state, and since when it holds
    this.since = 0;
    this.timer = null;
  }

  /* The state now (for example "happy"); said when the rules allow, perhaps later, perhaps never. */
  say(text) {
    if (text !== this.candidate) { this.candidate = text; this.since = this.now(); }
    this.check();
  }

  check() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.candidate === this.last) return;
    const t = this.now();
    const due = Math.max(this.since + this.settleMs, this.lastAt + this.gapMs);
    if (t >= due) {
      this.last = this.candidate;
      this.lastAt = t;
      this.region.textContent = this.candidate;
    } else {
      this.timer = setTimeout(() => this.check(), due - t);
    }
  }
}

window.Announcer = Announcer;
