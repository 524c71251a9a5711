// Exercises URL, URLSearchParams, TextEncoder/TextDecoder, structuredClone and btoa.
export default {
  fetch(request) {
    const url = new URL("/a/b?x=1&y=2", "https://example.com");
    url.searchParams.append("z", "3 4");
    url.searchParams.delete("x");
    const params = new URLSearchParams({ q: "café", n: "1" });
    const bytes = new TextEncoder().encode("héllo €");
    const dec = new TextDecoder();
    const streamed = dec.decode(bytes.subarray(0, 2), { stream: true }) + dec.decode(bytes.subarray(2));
    const orig = { d: new Date(0), m: new Map([[1, { n: 2 }]]), arr: [1, 2] };
    orig.self = orig;
    const copy = structuredClone(orig);
    return Response.json({
      href: url.href,
      params: params.toString(),
      bytes: bytes.length,
      streamed,
      clone: copy !== orig && copy.self === copy && copy.m.get(1).n === 2 && copy.d.getTime() === 0,
      b64: btoa("hello"),
      unb64: atob("aGVsbG8="),
    });
  },
};
