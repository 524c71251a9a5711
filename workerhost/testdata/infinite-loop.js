// Spins forever unless asked not to; the host must interrupt it.
export default {
  fetch(request) {
    if (new URL(request.url).searchParams.has("ok")) return new Response("fine");
    let n = 0;
    for (;;) n++;
  },
};
