// Orders timers, clears one and counts interval ticks. Events that must be
// ordered are at least 10ms apart.
export default {
  async fetch() {
    const events = [];
    const cleared = setTimeout(() => events.push("cleared"), 1);
    clearTimeout(cleared);
    await new Promise((resolve) => {
      setTimeout(() => events.push("t25"), 25);
      setTimeout(() => events.push("t0"), 0);
      let ticks = 0;
      const iv = setInterval(() => {
        events.push("tick");
        if (++ticks === 3) {
          clearInterval(iv);
          setTimeout(resolve, 30);
        }
      }, 5);
    });
    queueMicrotask(() => events.push("micro"));
    await null;
    return Response.json(events);
  },
};
