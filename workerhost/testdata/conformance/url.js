// URL: the WHATWG URL Standard's basic URL parser section by section
// (scheme, authority, host, port, path, query, fragment states), the
// setters, origin, and the URL interface's own members.
const parts = (u) => [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash];
const parse = (input, base) => () => parts(base === undefined ? new URL(input) : new URL(input, base));

const inputs = [
  // scheme state, special schemes and their default ports
  ["http://example.com"], ["HTTP://EXAMPLE.COM/"], ["https://example.com:443/"], ["http://example.com:80/"],
  ["ws://h:80/"], ["wss://h:443/"], ["ftp://h:21/"], ["http://h:0/"], ["http://h:65535/"], ["http://h:65536/"],
  ["http://h:8080x/"], ["http://h:/"], ["http://h:00080/"], ["file:///tmp/x"], ["a1+-.b://x"], ["1a://x"],
  ["mailto:someone@example.com"], ["javascript:alert(1)"], ["data:text/plain,hi"], ["urn:isbn:0451450523"],
  // leading/trailing C0 control or space, tab and newline removal
  ["  http://h/  "], ["\thttp://h/\n"], ["http://h/a\tb\nc\rd"], ["\u0000http://h/"], ["http://exa\nmple.com/"],
  // authority and userinfo
  ["http://user:pass@h/"], ["http://user@h/"], ["http://:pass@h/"], ["http://@h/"], ["http://a:b@c:d@h/"],
  ["http://us%65r:p%25ss@h/"], ["http://us er:pa ss@h/"], ["http://user:p@ss@h/"], ["http://a/b@c"],
  ["http://ü:ö@h/"], ["http://[::1]@h/"],
  // host parsing: domains, IDNA, forbidden code points, percent-decoding
  ["http://ExAmPlE.CoM/"], ["http://exam%70le.com/"], ["http://münchen.de/"], ["http://xn--mnchen-3ya.de/"],
  ["http://a b/"], ["http://a<b/"], ["http://a%20b/"], ["http://a^b/"], ["http://a|b/"], ["http://%/"],
  ["http://h./"], ["http://.h/"], ["http://a..b/"], ["http:///h/"], ["http:h/"], ["http:\\\\h\\a\\b"],
  ["http://h\\a"], ["non-special://a b/"], ["non-special://a%20b/"], ["non-special://%E2%80%A5/"],
  ["http://\u00ad/"], ["http://xn--/"], ["http://Ｇｏ.com/"], ["http://a.b.c.xn--pokxncvks/"],
  // IPv4
  ["http://127.0.0.1/"], ["http://0x7f.1/"], ["http://0177.0.0.1/"], ["http://2130706433/"], ["http://127.1/"],
  ["http://1.2.3.4.5/"], ["http://1.2.3.256/"], ["http://256.256.256.256/"], ["http://4294967295/"],
  ["http://4294967296/"], ["http://1.2.3.09/"], ["http://0x/"], ["http://1.2.3.4./"], ["http://foo.09/"],
  ["http://foo.0x4/"], ["non-special://1.2.3.256/"],
  // IPv6
  ["http://[::1]/"], ["http://[0:0:0:0:0:0:0:1]/"], ["http://[1:0:0:2::3:0]/"], ["http://[2001:db8::]:8080/"],
  ["http://[::ffff:192.168.0.1]/"], ["http://[::127.0.0.1]/"], ["http://[1:2:3:4:5:6:7:8]/"],
  ["http://[1:2:3:4:5:6:7:8:9]/"], ["http://[::1::]/"], ["http://[1::2::3]/"], ["http://[:1]/"], ["http://[1:]/"],
  ["http://[::1.2.3.]/"], ["http://[::1.2.3.4.5]/"], ["http://[0::0:0:0:0:0:0:0]/"], ["http://[FEDC:BA98::]/"],
  ["http://[::1]:80/"], ["http://[::1/"], ["http://::1]/"], ["non-special://[1:2::3]:80/"],
  // path state: dot segments, percent-encoding, backslashes
  ["http://h/a/b/../c"], ["http://h/a/./b/"], ["http://h/a/b/.."], ["http://h/a/%2e/b"], ["http://h/a/%2E%2e/b"],
  ["http://h/.././../a"], ["http://h/a/"], ["http://h/a b"], ["http://h/a\"b<c>d`e{f}g"], ["http://h/ü"],
  ["http://h/%zz"], ["http://h/a%2fb"], ["http://h/a\\b"], ["non-special://h/a\\b"], ["non-special:/a/../b"],
  ["non-special:a/../b"], ["non-special://h/a/./b/../c"], ["non-special:///x"], ["non-special://"],
  ["non-special:/..//p"], ["http://h/a?b#c/../d"], ["http://h/a;b/c"], ["http://h/a|b"],
  // query and fragment percent-encode sets
  ["http://h/?a b\"#<>'"], ["non-special://h/?a b\"#<>'"], ["http://h/?ü"], ["http://h/#a b\"<>`"],
  ["http://h/?"], ["http://h/#"], ["http://h/?#"], ["http://h/?a=1&b=2#f"], ["http://h/#a#b"], ["http://h/?%zz"],
  // file URLs
  ["file://localhost/etc"], ["file:///C:/x"], ["file:///C|/x"], ["file:C:/x"], ["file://h/x"], ["file:/x"],
  ["file:x"], ["file:///x/../../y"], ["file:///C:/../y"], ["file://[::1]/x"], ["file://h:80/x"], ["FILE:///x"],
  // failures
  [""], ["x"], ["http://"], ["http://h:-1/"], ["https://"], ["http://[/"], ["http:// /"], ["//h"], ["?x"],
];
const relative = [
  ["b", "http://h/a/c"], ["../b", "http://h/a/c/d"], ["./", "http://h/a/c"], ["/b", "http://h/a/c"],
  ["//o/b", "http://h/a"], ["?q", "http://h/a?x#y"], ["#f", "http://h/a?x#y"], ["", "http://h/a?x#y"],
  ["https:b", "http://h/a/"], ["http:b", "http://h/a/"], ["http:/b", "http://h/a/"], ["\\b", "http://h/a/c"],
  ["..", "http://h/a/b/c"], ["../..", "http://h/a"], ["b", "non-special://h/a/c"], ["b", "mailto:x"],
  ["#f", "mailto:x"], ["?q", "mailto:x"], ["b", "file:///C:/a/c"], ["/b", "file:///C:/a/c"], ["..", "file:///C:/"],
  ["//h2/b", "file:///a"], ["x", "data:text/plain,a"], ["b;c", "http://h/a/"], ["b", "http://h"],
  ["b", "http://h/a/c?q#f"], [" b ", "http://h/a/"], ["\tb", "http://h/a/"], ["b:c", "http://h/a/"],
  ["1:c", "http://h/a/"], ["http://o", "bad base"], ["", "about:blank"], ["sc:x", "https://h/"],
];

const setters = [
  ["href", "http://h/a", "https://o/b"], ["href", "http://h/a", "bad"], ["protocol", "http://h/", "https"],
  ["protocol", "http://h/", "https:x"], ["protocol", "http://h/", "foo"], ["protocol", "foo://h/", "http"],
  ["protocol", "http://h:443/", "https"], ["protocol", "http://h/", "file"], ["protocol", "mailto:x", "http"],
  ["username", "http://h/", "u s@"], ["username", "file:///x", "u"], ["password", "http://h/", "p:w"],
  ["password", "mailto:x", "p"], ["host", "http://h/", "o:81"], ["host", "http://h/", "o:81x"],
  ["host", "http://h/", ""], ["host", "non-special://h/", ""], ["host", "http://h:8/", "o"],
  ["host", "http://h/", "[::1]:9"], ["host", "http://h/", "a b"], ["hostname", "http://h:8/", "o"],
  ["hostname", "http://h/", "o:9"], ["hostname", "mailto:x", "h"], ["port", "http://h/", "81"],
  ["port", "http://h:81/", ""], ["port", "http://h/", "80"], ["port", "http://h/", "8x"], ["port", "http://h/", "99999"],
  ["port", "file:///x", "8"], ["port", "http://h/", " 8"], ["pathname", "http://h/a", "b c"],
  ["pathname", "http://h/a", "../x"], ["pathname", "http://h/a", ""], ["pathname", "mailto:x", "y"],
  ["pathname", "non-special://h/a", ""], ["pathname", "http://h/a", "?#"], ["search", "http://h/a?x", "y z"],
  ["search", "http://h/a?x", ""], ["search", "http://h/a?x", "?"], ["search", "http://h/a?x", "#"],
  ["hash", "http://h/a#x", "y z"], ["hash", "http://h/a#x", ""], ["hash", "http://h/a#x", "#"],
  ["hash", "http://h/a", "ü"],
];

const cases = [];
for (const [input] of inputs) cases.push(["parse " + JSON.stringify(input), parse(input)]);
for (const [input, base] of relative) cases.push(["resolve " + JSON.stringify(input) + " against " + base, parse(input, base)]);
for (const [k, href, v] of setters) {
  cases.push([`set ${k} of ${href} to ${JSON.stringify(v)}`, () => { const u = new URL(href); u[k] = v; return parts(u); }]);
}

cases.push(
  ["URL()", () => new URL()],
  ["URL(undefined)", () => new URL(undefined)],
  ["URL with URL base", () => new URL("b", new URL("http://h/a/")).href],
  ["URL with base undefined", () => new URL("http://h/", undefined).href],
  ["URL with base null", () => new URL("x", null).href],
  ["URL stringifies input", () => new URL({ toString() { return "http://h/o"; } }).href],
  ["toString", () => new URL("http://h/a").toString()],
  ["toJSON", () => JSON.stringify({ u: new URL("http://h/a") })],
  ["String(url)", () => String(new URL("http://h/a?b"))],
  ["toStringTag", () => Object.prototype.toString.call(new URL("http://h/"))],
  ["canParse valid", () => URL.canParse("http://h/")],
  ["canParse invalid", () => URL.canParse("x")],
  ["canParse relative", () => URL.canParse("x", "http://h/")],
  ["canParse undefined input opaque base", () => URL.canParse(undefined, "aaa:b")],
  ["canParse no arguments", () => URL.canParse()],
  ["parse static", () => typeof URL.parse === "function" ? String(URL.parse("x", "http://h/")) : "absent"],
  ["parse static invalid", () => typeof URL.parse === "function" ? URL.parse("x") : "absent"],
  ["searchParams identity", () => { const u = new URL("http://h/?a=1"); return u.searchParams === u.searchParams; }],
  ["searchParams follows search", () => { const u = new URL("http://h/?a=1"); u.search = "b=2"; return u.searchParams.get("b"); }],
  ["searchParams updates href", () => { const u = new URL("http://h/?a=1"); u.searchParams.append("c", "3 4"); return u.href; }],
  ["searchParams delete last clears query", () => { const u = new URL("http://h/?a=1"); u.searchParams.delete("a"); return u.href; }],
  ["searchParams on opaque path", () => { const u = new URL("mailto:x?a=1"); u.searchParams.set("b", "2"); return u.href; }],
  ["hash setter keeps search", () => { const u = new URL("http://h/?q"); u.hash = "f"; return u.href; }],
  ["href setter updates searchParams", () => { const u = new URL("http://h/?a=1"); const p = u.searchParams; u.href = "http://h/?z=9"; return p.get("z"); }],
  ["origin of blob URL", () => new URL("blob:https://h:8/uuid").origin],
  ["origin of blob non-http", () => new URL("blob:ftp://h/uuid").origin],
  ["origin of file", () => new URL("file:///x").origin],
  ["origin of data", () => new URL("data:,x").origin],
  ["instance has no own properties", () => Object.keys(new URL("http://h/")).length],
  ["href is an accessor on the prototype", () => typeof Object.getOwnPropertyDescriptor(URL.prototype, "href").get],
  ["origin is read-only", () => { const u = new URL("http://h/"); u.origin = "http://o"; return u.origin; }],
  ["long port overflow", () => new URL("http://h:99999999999999999999/").port],
  ["lone surrogate in path", () => new URL("http://h/\uD800").pathname],
  ["lone surrogate in host", () => new URL("http://\uDC00/").host],
  ["lone surrogate in base", () => new URL("a", "http://h/\uD800/").pathname],
  ["number input", () => new URL(1, "http://h/").href],
);

export default cases;
