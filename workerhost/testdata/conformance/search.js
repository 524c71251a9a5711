// URLSearchParams: the application/x-www-form-urlencoded parser and
// serializer of the URL Standard, and the interface's members.
const P = (init) => new URLSearchParams(init);
const list = (p) => [...p].map(([k, v]) => k + "=" + v);

const parses = ["", "?", "??a=b", "a=1&b=2", "a=1&&b=2", "&a", "a", "a=", "=a", "=", "a==b", "a=b=c", "a+b=c+d",
  "a%20b=c%2Bd", "%zz=%", "%", "%e2%82%ac=%E2%82%AC", "%ff=%fe", "a=%C3", "a;b=c", "%00=%01", "a=1&a=2&a=3",
  "ü=ö", "a=\uD800", "+", "%2B", "a\tb=c\nd", "a=b#c", "?a=b?c"];
const serializes = [" ", "+", "*-._", "~", "!'()", "&=", "?#/", "%", "ü", "€", "\u0000\u001f\u007f", "a b+c", "\uD800", "\uDC00x", "😀", "\r\n", "\"<>`", "@:;,"];

const cases = [];
for (const s of parses) cases.push(["parse " + JSON.stringify(s), () => list(P(s))]);
for (const s of serializes) cases.push(["serialize " + JSON.stringify(s), () => P([[s, s]]).toString()]);

cases.push(
  ["init undefined", () => P(undefined).toString()],
  ["init null", () => P(null).toString()],
  ["init number", () => P(1).toString()],
  ["init record", () => P({ a: "1", b: 2 }).toString()],
  ["init record with symbol key ignored", () => P({ a: 1, [Symbol("s")]: 2 }).toString()],
  ["init sequence", () => P([["a", "1"], ["b", "2"]]).toString()],
  ["init sequence pair of one", () => P([["a"]])],
  ["init sequence pair of three", () => P([["a", "b", "c"]])],
  ["init sequence non-iterable item", () => P([1])],
  ["init from URLSearchParams copies", () => { const a = P("a=1"); const b = P(a); b.append("c", "2"); return [a.toString(), b.toString()]; }],
  ["init iterable string pairs", () => P(new Map([["a", "1"]])).toString()],
  ["init function", () => P(function () {}).toString()],
  ["append stringifies", () => { const p = P(); p.append(1, null); return p.toString(); }],
  ["append arity", () => P().append("a")],
  ["get missing", () => P("a=1").get("b")],
  ["get first", () => P("a=1&a=2").get("a")],
  ["getAll", () => P("a=1&b=0&a=2").getAll("a")],
  ["getAll missing", () => P("a=1").getAll("b")],
  ["has", () => [P("a=1").has("a"), P("a=1").has("b")]],
  ["has with value", () => [P("a=1&a=2").has("a", "2"), P("a=1").has("a", "3")]],
  ["has with undefined value", () => P("a=1").has("a", undefined)],
  ["delete all", () => { const p = P("a=1&b=2&a=3"); p.delete("a"); return p.toString(); }],
  ["delete with value", () => { const p = P("a=1&b=2&a=3"); p.delete("a", "3"); return p.toString(); }],
  ["set replaces first removes rest", () => { const p = P("a=1&b=2&a=3"); p.set("a", "x"); return p.toString(); }],
  ["set new appends", () => { const p = P("a=1"); p.set("b", "2"); return p.toString(); }],
  ["sort stable", () => { const p = P("z=1&a=2&z=0&a=1"); p.sort(); return p.toString(); }],
  ["sort by UTF-16 code units", () => { const p = P([["\uFFFD", "a"], ["😀", "b"], ["ﬃ", "c"]]); p.sort(); return [...p.keys()]; }],
  ["sort empty leaves no ?", () => { const u = new URL("http://h/?"); u.searchParams.sort(); return u.href; }],
  ["sort updates url", () => { const u = new URL("http://h/?b=1&a=2"); u.searchParams.sort(); return u.href; }],
  ["size", () => P("a=1&a=2&b").size],
  ["forEach arguments", () => { const out = []; P("a=1&b=2").forEach(function (v, k, o) { out.push(v, k, o instanceof URLSearchParams); }); return out; }],
  ["forEach thisArg", () => { let t; P("a=1").forEach(function () { t = this; }, "x"); return String(t); }],
  ["forEach non-callable", () => P("a=1").forEach(1)],
  ["entries", () => [...P("a=1&b=2").entries()]],
  ["keys", () => [...P("a=1&b=2").keys()]],
  ["values", () => [...P("a=1&b=2").values()]],
  ["iterator is entries", () => URLSearchParams.prototype[Symbol.iterator] === URLSearchParams.prototype.entries],
  ["iterator toStringTag", () => Object.prototype.toString.call(P("a=1").entries())],
  ["iterator next done", () => { const i = P("").keys(); return JSON.stringify(i.next()); }],
  ["iterator sees appends", () => { const p = P("a=1"); const out = []; for (const [k] of p) { out.push(k); if (out.length === 1) p.append("b", "2"); } return out; }],
  ["toStringTag", () => Object.prototype.toString.call(P())],
  ["String()", () => String(P("a=b c"))],
  ["lone surrogate name get", () => { const p = P(); p.append("\uD800", "x"); return p.get("\uFFFD"); }],
  ["lone surrogate value", () => { const p = P(); p.append("a", "\uDC00"); return p.get("a"); }],
  ["lone surrogate record key", () => P({ "\uD800": "1" }).toString()],
  ["called without new", () => URLSearchParams("a=1")],
  ["url searchParams parse plus", () => new URL("http://h/?a=b+c").searchParams.get("a")],
  ["url search after set", () => { const u = new URL("http://h/?a=b c"); u.searchParams.set("a", "d e"); return u.search; }],
  ["url search with hash", () => { const u = new URL("http://h/?a=1#f"); u.searchParams.append("b", "#"); return u.href; }],
);

export default cases;
