// URL and URLSearchParams, the interfaces of the WHATWG URL Standard, over
// the natives of url.go: host.urlParse and host.urlSet run the standard's
// basic URL parser, host.formParse and host.formSerialize its
// application/x-www-form-urlencoded parser and serializer.
(function (host, deps) {
  "use strict";

  const { iterator } = deps;
  const kParts = Symbol("URL parts");
  const kParams = Symbol("URLSearchParams");
  const kList = Symbol("list");
  const kURL = Symbol("URL");
  // The indexes of host.urlParse's array (url.go).
  const HREF = 0, PROTOCOL = 1, USERNAME = 2, PASSWORD = 3, HOST = 4, HOSTNAME = 5, PORT = 6, PATHNAME = 7, SEARCH = 8, HASH = 9, ORIGIN = 10;

  const surrogate = /[\uD800-\uDFFF]/;
  // usv converts v to a USVString: lone surrogates become U+FFFD.
  function usv(v) {
    const s = String(v);
    return surrogate.test(s) ? host.usv(s) : s;
  }
  function need(n, count, what) {
    if (count < n) throw new TypeError(`Failed to execute '${what}': ${n} argument${n > 1 ? "s" : ""} required, but only ${count} present.`);
  }

  // parseURL runs the basic URL parser, or returns null on failure. The
  // parts of URLs parsed without a base are cached: scripts parse the same
  // request.url and the same constants on every request, and the parts
  // arrays are never changed (a setter replaces them). The cache starts
  // over when full.
  const parsed = new Map();
  function parseURL(url, base) {
    url = String(url);
    if (base !== undefined) return host.urlParse(url, String(base));
    let parts = parsed.get(url);
    if (parts !== undefined) return parts;
    parts = host.urlParse(url);
    if (url.length <= 2048) {
      if (parsed.size >= 256) parsed.clear();
      parsed.set(url, parts);
    }
    return parts;
  }

  function listOf(query) {
    const flat = host.formParse(query);
    const list = [];
    for (let i = 0; i < flat.length; i += 2) list.push([flat[i], flat[i + 1]]);
    return list;
  }
  // queryList is the list of a URL's query, or an empty one.
  function queryList(parts) { return parts[SEARCH] === "" ? [] : listOf(parts[SEARCH].slice(1)); }

  class URL {
    constructor(url, base) {
      need(1, arguments.length, "URL");
      const parts = parseURL(url, base);
      if (parts === null) throw new TypeError("Invalid URL string.");
      this[kParts] = parts;
      this[kParams] = null;
    }
    static canParse(url, base) {
      need(1, arguments.length, "canParse");
      return parseURL(url, base) !== null;
    }
    static parse(url, base) {
      need(1, arguments.length, "parse");
      const parts = parseURL(url, base);
      if (parts === null) return null;
      const u = Object.create(URL.prototype);
      u[kParts] = parts;
      u[kParams] = null;
      return u;
    }
    get href() { return this[kParts][HREF]; }
    set href(v) {
      const parts = parseURL(v);
      if (parts === null) throw new TypeError("Invalid URL string.");
      this[kParts] = parts;
      if (this[kParams] !== null) this[kParams][kList] = queryList(parts);
    }
    get origin() { return this[kParts][ORIGIN]; }
    get protocol() { return this[kParts][PROTOCOL]; }
    set protocol(v) { set(this, "protocol", v); }
    get username() { return this[kParts][USERNAME]; }
    set username(v) { set(this, "username", v); }
    get password() { return this[kParts][PASSWORD]; }
    set password(v) { set(this, "password", v); }
    get host() { return this[kParts][HOST]; }
    set host(v) { set(this, "host", v); }
    get hostname() { return this[kParts][HOSTNAME]; }
    set hostname(v) { set(this, "hostname", v); }
    get port() { return this[kParts][PORT]; }
    set port(v) { set(this, "port", v); }
    get pathname() { return this[kParts][PATHNAME]; }
    set pathname(v) { set(this, "pathname", v); }
    get search() { return this[kParts][SEARCH]; }
    set search(v) {
      set(this, "search", v);
      if (this[kParams] !== null) this[kParams][kList] = queryList(this[kParts]);
    }
    get searchParams() {
      let p = this[kParams];
      if (p === null) {
        p = Object.create(URLSearchParams.prototype);
        p[kList] = queryList(this[kParts]);
        p[kURL] = this;
        this[kParams] = p;
      }
      return p;
    }
    get hash() { return this[kParts][HASH]; }
    set hash(v) { set(this, "hash", v); }
    toString() { return this[kParts][HREF]; }
    toJSON() { return this[kParts][HREF]; }
  }
  function set(u, name, v) {
    const parts = u[kParts];
    const next = host.urlSet(parts[HREF], name, String(v));
    if (next !== null) u[kParts] = next;
  }

  class URLSearchParams {
    constructor(init = "") {
      this[kList] = [];
      this[kURL] = null;
      if ((typeof init === "object" && init !== null) || typeof init === "function") {
        const it = init[Symbol.iterator];
        if (it !== undefined) {
          if (typeof it !== "function") throw new TypeError("Failed to construct 'URLSearchParams': The provided value cannot be converted to a sequence.");
          for (const pair of init) {
            if ((typeof pair !== "object" || pair === null) && typeof pair !== "function") {
              throw new TypeError("Failed to construct 'URLSearchParams': The provided value cannot be converted to a sequence.");
            }
            const p = Array.from(pair);
            if (p.length !== 2) throw new TypeError("Failed to construct 'URLSearchParams': Sequence initializer must only contain pair elements");
            this[kList].push([usv(p[0]), usv(p[1])]);
          }
        } else {
          for (const k of Reflect.ownKeys(init)) {
            if (typeof k !== "string") continue;
            const d = Reflect.getOwnPropertyDescriptor(init, k);
            if (d !== undefined && d.enumerable) this[kList].push([usv(k), usv(init[k])]);
          }
        }
        return;
      }
      let s = usv(init);
      if (s.charCodeAt(0) === 0x3f) s = s.slice(1);
      this[kList] = listOf(s);
    }
    get size() { return this[kList].length; }
    append(name, value) {
      need(2, arguments.length, "append");
      this[kList].push([usv(name), usv(value)]);
      update(this);
    }
    delete(name, value) {
      need(1, arguments.length, "delete");
      name = usv(name);
      if (value === undefined) this[kList] = this[kList].filter((e) => e[0] !== name);
      else {
        value = usv(value);
        this[kList] = this[kList].filter((e) => e[0] !== name || e[1] !== value);
      }
      update(this);
    }
    get(name) {
      need(1, arguments.length, "get");
      name = usv(name);
      const e = this[kList].find((x) => x[0] === name);
      return e === undefined ? null : e[1];
    }
    getAll(name) {
      need(1, arguments.length, "getAll");
      name = usv(name);
      return this[kList].filter((x) => x[0] === name).map((x) => x[1]);
    }
    has(name, value) {
      need(1, arguments.length, "has");
      name = usv(name);
      if (value === undefined) return this[kList].some((x) => x[0] === name);
      value = usv(value);
      return this[kList].some((x) => x[0] === name && x[1] === value);
    }
    set(name, value) {
      need(2, arguments.length, "set");
      name = usv(name);
      value = usv(value);
      const list = this[kList];
      const i = list.findIndex((x) => x[0] === name);
      if (i < 0) list.push([name, value]);
      else {
        list[i] = [name, value];
        this[kList] = list.filter((x, j) => j <= i || x[0] !== name);
      }
      update(this);
    }
    sort() {
      // A stable sort by name in UTF-16 code unit order.
      const list = this[kList].map((e, i) => [e, i]);
      list.sort((a, b) => compareUnits(a[0][0], b[0][0]) || a[1] - b[1]);
      this[kList] = list.map((x) => x[0]);
      update(this);
    }
    forEach(callback, thisArg) {
      need(1, arguments.length, "forEach");
      if (typeof callback !== "function") throw new TypeError("Failed to execute 'forEach' on 'URLSearchParams': parameter 1 is not of type 'Function'.");
      for (let i = 0; i < this[kList].length; i++) {
        const e = this[kList][i];
        callback.call(thisArg, e[1], e[0], this);
      }
    }
    entries() { return paramsIterator(this, "key+value"); }
    keys() { return paramsIterator(this, "key"); }
    values() { return paramsIterator(this, "value"); }
    toString() { return serialize(this[kList]); }
    [Symbol.iterator]() { return paramsIterator(this, "key+value"); }
  }
  const paramsIterator = iterator("URLSearchParams", (p, i) => p[kList][i]);

  // compareUnits compares strings by UTF-16 code units. goja's < compares
  // code points, which orders differently past the surrogates.
  function compareUnits(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const d = a.charCodeAt(i) - b.charCodeAt(i);
      if (d !== 0) return d;
    }
    return a.length - b.length;
  }

  function serialize(list) {
    const flat = [];
    for (let i = 0; i < list.length; i++) flat.push(list[i][0], list[i][1]);
    return host.formSerialize(flat);
  }
  // update runs the URLSearchParams update steps: the URL it belongs to
  // gets the serialized list as its query.
  function update(p) {
    const u = p[kURL];
    if (u === null) return;
    const next = host.urlSet(u[kParts][HREF], "query", serialize(p[kList]));
    if (next !== null) u[kParts] = next;
  }

  // href is new URL(url).href, without the URL object: fetch(url), new
  // Request(url) and Response.redirect(url) need no more. A URL that does
  // not parse throws a TypeError of workerd's text for them: what, then
  // the URL; a Symbol throws as converting it to a string does.
  function href(url, what) {
    const s = `${url}`;
    const parts = parseURL(s);
    if (parts === null) throw new TypeError(what + s);
    return parts[HREF];
  }

  return { URL, URLSearchParams, href };
});
