// Orders timers, clears one and counts interval ticks. The slow timer is
// due 235ms after the third tick, so that a busy machine cannot reorder
// them, and a fourth tick would show that clearInterval failed.
export default {
  async fetch() {
    const events = [];
    const cleared = setTimeout(() => events.push("cleared"), 1);
    clearTimeout(cleared);
    await new Promise((resolve) => {
      setTimeout(() => {
        events.push("slow");
        resolve();
      }, 250);
      setTimeout(() => events.push("t0"), 0);
      let ticks = 0;
      const iv = setInterval(() => {
        events.push("tick");
        if (++ticks === 3) clearInterval(iv);
      }, 5);
    });
    queueMicrotask(() => events.push("micro"));
    await null;
    return Response.json(events);
  },
};
