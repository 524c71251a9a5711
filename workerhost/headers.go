package workerhost

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
	"golang.org/x/net/http/httpguts"
)

// Headers (the Fetch standard's header lists) keep their entries in Go;
// the class is the prelude's. Frameworks set, copy and read a dozen
// headers several times per request: in goja a Map per Headers object,
// its copies and a JavaScript call per header handed to Go were a third
// of a Hono request's JavaScript time. Here a copy is one slice copy,
// set, get, has, append and delete are native methods, and a response's
// headers, a fetch's and an incoming request's pass between Go and the
// script without a JavaScript call per header.
//
// A Headers object holds, under the prelude's kState symbol, a state
// object (a goja dynamic object with no properties) around a headerList.

// headerEntry is one entry of a header list: its name, lower-cased, in
// Go and as a JavaScript string, and its value as a JavaScript string,
// checked and trimmed.
type headerEntry struct {
	name   string
	jsName goja.Value
	value  goja.Value
}

// headerList is the state of a Headers object: its entries in the order
// they were added, and whether the object is immutable (the headers of
// the incoming request, of fetch responses and of Response.redirect).
type headerList struct {
	entries   []headerEntry
	immutable bool
}

// The state object has no properties of its own (goja.DynamicObject).
func (*headerList) Get(string) goja.Value       { return nil }
func (*headerList) Set(string, goja.Value) bool { return false }
func (*headerList) Has(string) bool             { return false }
func (*headerList) Delete(string) bool          { return false }
func (*headerList) Keys() []string              { return nil }

// add appends an entry.
func (hl *headerList) add(name string, jsName, value goja.Value) {
	hl.entries = append(hl.entries, headerEntry{name, jsName, value})
}

// set replaces the value of the first entry named name and removes the
// others, or adds an entry.
func (hl *headerList) set(name string, jsName, value goja.Value) {
	i := slices.IndexFunc(hl.entries, named(name))
	if i < 0 {
		hl.add(name, jsName, value)
		return
	}
	hl.entries[i].value = value
	rest := hl.entries[i+1:]
	hl.entries = append(hl.entries[:i+1], deleteNamed(rest, name)...)
}

// delete removes every entry named name.
func (hl *headerList) delete(name string) {
	hl.entries = deleteNamed(hl.entries, name)
}

func deleteNamed(es []headerEntry, name string) []headerEntry {
	return slices.DeleteFunc(es, named(name))
}

// named returns a test of an entry's name.
func named(name string) func(headerEntry) bool {
	return func(e headerEntry) bool { return e.name == name }
}

// headerName is a header name checked and lower-cased (jsRuntime.headerName).
type headerName struct {
	name string
	js   goja.Value
}

// maxHeaderNames bounds jsRuntime.headerNames, which starts over when full.
const maxHeaderNames = 512

// isTokenByte reports whether c, an ASCII byte, may be in a header name.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// headerName checks and lower-cases v, a header name, as workerd does: an
// ASCII character must be a token character, each UTF-16 code unit of a
// non-ASCII one becomes U+FFFD, and the empty name is allowed. Names are
// cached: scripts use the same few on every request.
func (rt *jsRuntime) headerName(v goja.Value) (string, goja.Value) {
	s := rt.byteString(v)
	key := s.String()
	if n, ok := rt.headerNames[key]; ok {
		return n.name, n.js
	}
	var b strings.Builder
	lower := true
	for _, r := range key {
		switch {
		case r >= utf8.RuneSelf:
			lower = false
			b.WriteRune('\ufffd')
			if r > 0xffff {
				b.WriteRune('\ufffd')
			}
		case !isTokenByte(byte(r)):
			rt.throwType("Invalid header name.")
		case 'A' <= r && r <= 'Z':
			lower = false
			b.WriteByte(byte(r) + 'a' - 'A')
		default:
			b.WriteByte(byte(r))
		}
	}
	n := headerName{name: key, js: s}
	if !lower {
		n.name = b.String()
		n.js = rt.vm.ToValue(n.name)
	}
	rt.cacheName(key, n)
	return n.name, n.js
}

// cacheName caches n, the checked name of key, unless key is long.
func (rt *jsRuntime) cacheName(key string, n headerName) {
	if len(key) > 128 {
		return
	}
	if len(rt.headerNames) >= maxHeaderNames {
		clear(rt.headerNames)
	}
	rt.headerNames[key] = n
}

// byteString converts v to a string as WebIDL does for a header name or
// value: a Symbol is a TypeError, as in workerd.
func (rt *jsRuntime) byteString(v goja.Value) goja.Value {
	if _, ok := v.(*goja.Symbol); ok {
		rt.throwType("Cannot convert a Symbol value to a string")
	}
	return v.ToString()
}

// isHeaderSpace reports whether c is HTTP whitespace, which is trimmed
// from both ends of a header value.
func isHeaderSpace(c uint16) bool { return c == '\t' || c == '\n' || c == '\r' || c == ' ' }

// headerValue converts v to a header value: trimmed of HTTP whitespace,
// and without CR, LF or NUL inside. The check reads UTF-16 code units, so
// that a value keeps every unit the script gave.
func (rt *jsRuntime) headerValue(v goja.Value) goja.Value {
	sv := rt.byteString(v)
	s, ok := sv.(goja.String)
	if !ok {
		s = rt.vm.ToValue(sv.String()).(goja.String)
	}
	start, end := 0, s.Length()
	for start < end && isHeaderSpace(s.CharAt(start)) {
		start++
	}
	for end > start && isHeaderSpace(s.CharAt(end-1)) {
		end--
	}
	for i := start; i < end; i++ {
		if c := s.CharAt(i); c == '\r' || c == '\n' || c == 0 {
			rt.throwType("Invalid header value")
		}
	}
	if start == 0 && end == s.Length() {
		return s
	}
	return s.Substring(start, end)
}

// newHeaderState returns the state object of hl.
func (rt *jsRuntime) newHeaderState(hl *headerList) *goja.Object {
	return rt.vm.NewDynamicObject(hl)
}

// stateHeaders returns the header list of a state object, or nil.
func stateHeaders(v goja.Value) *headerList {
	// The type first: exporting any other object would run its getters
	// and copy it whole, in native code the CPU limit cannot interrupt.
	if o, ok := v.(*goja.Object); ok && o.ExportType() == headerListType {
		hl, _ := o.Export().(*headerList)
		return hl
	}
	return nil
}

var headerListType = reflect.TypeFor[*headerList]()

// thisHeaders returns the header list of this, a Headers object.
func (rt *jsRuntime) thisHeaders(this goja.Value) *headerList {
	if o, ok := this.(*goja.Object); ok && rt.kState != nil {
		if hl := stateHeaders(o.GetSymbol(rt.kState)); hl != nil {
			return hl
		}
	}
	rt.throwType("Illegal invocation")
	return nil
}

// mutableHeaders is thisHeaders for the methods that change the list.
func (rt *jsRuntime) mutableHeaders(this goja.Value) *headerList {
	hl := rt.thisHeaders(this)
	if hl.immutable {
		rt.throwType("Can't modify immutable headers.")
	}
	return hl
}

// joined returns the values of the entries named name joined by ", ",
// or null.
func (rt *jsRuntime) joined(hl *headerList, name string) goja.Value {
	var j valueJoin
	for _, e := range hl.entries {
		if e.name == name {
			j.add(e.value, rt.commaSpace)
		}
	}
	if j.first == nil {
		return goja.Null()
	}
	return j.value()
}

// valueJoin joins values by ", " in a builder once there are two: a join
// runs in one native call, which the CPU limit cannot interrupt, and
// concatenating value by value copies the join so far each time, which
// for the many values a script may append to one name took seconds.
type valueJoin struct {
	first goja.String
	b     goja.StringBuilder
	many  bool
}

func (j *valueJoin) add(v goja.Value, sep goja.String) {
	s := v.(goja.String)
	if j.first == nil {
		j.first = s
		return
	}
	if !j.many {
		j.many = true
		j.b.WriteString(j.first)
	}
	j.b.WriteString(sep)
	j.b.WriteString(s)
}

// value returns the join, or nil if no value was added.
func (j *valueJoin) value() goja.String {
	if j.many {
		return j.b.String()
	}
	return j.first
}

// pairs returns the [name, value] pairs iteration gives: sorted by name
// (stably, so that set-cookie values keep their order), each set-cookie
// apart, the other values of a name joined.
func (rt *jsRuntime) pairs(hl *headerList) goja.Value {
	vm := rt.vm
	es := slices.Clone(hl.entries)
	slices.SortStableFunc(es, func(a, b headerEntry) int { return strings.Compare(a.name, b.name) })
	out := make([]any, 0, len(es))
	for i := 0; i < len(es); {
		e := es[i]
		v, j := e.value, i+1
		if e.name != "set-cookie" {
			var join valueJoin
			join.add(e.value, rt.commaSpace)
			for ; j < len(es) && es[j].name == e.name; j++ {
				join.add(es[j].value, rt.commaSpace)
			}
			v = join.value()
		}
		out = append(out, vm.NewArray(e.jsName, v))
		i = j
	}
	return vm.NewArray(out...)
}

// hostHeaders is host.headers(kState); it returns the natives of the
// prelude's Headers class. kState is the symbol a Headers object keeps
// its state object under.
func (rt *jsRuntime) hostHeaders(c goja.FunctionCall) goja.Value {
	vm := rt.vm
	sym, ok := c.Argument(0).(*goja.Symbol)
	if !ok {
		rt.throwType("headers: no state symbol")
	}
	rt.kState = sym
	rt.commaSpace = vm.ToValue(", ").(goja.String)
	ops := vm.NewObject()
	set := setter(ops)
	// Functions of state objects, for the class and the rest of the
	// prelude.
	set("create", func(goja.FunctionCall) goja.Value { return rt.newHeaderState(&headerList{}) })
	set("copy", func(c goja.FunctionCall) goja.Value {
		from := rt.stateOrThrow(c.Argument(0))
		hl := &headerList{entries: slices.Clone(from.entries)}
		if c.Argument(1).ToBoolean() {
			hl.immutable = from.immutable
		}
		return rt.newHeaderState(hl)
	})
	set("fill", func(c goja.FunctionCall) goja.Value {
		hl := rt.stateOrThrow(c.Argument(0))
		name, js := rt.headerName(c.Argument(1))
		hl.add(name, js, rt.headerValue(c.Argument(2)))
		return goja.Undefined()
	})
	set("pairs", func(c goja.FunctionCall) goja.Value { return rt.pairs(rt.stateOrThrow(c.Argument(0))) })
	set("freeze", func(c goja.FunctionCall) goja.Value {
		rt.stateOrThrow(c.Argument(0)).immutable = true
		return goja.Undefined()
	})
	// emit hands the sendable entries of a Response's headers to Go, as
	// the response being described: Headers takes the empty name and
	// non-ASCII ones, as workerd does, but neither can be sent.
	set("emit", func(c goja.FunctionCall) goja.Value {
		if out := rt.out; out != nil {
			eachHeader(c.Argument(0), func(name, value string) {
				if httpguts.ValidHeaderFieldName(name) {
					out.headers = append(out.headers, name, value)
				}
			})
		}
		return goja.Undefined()
	})
	// name is a header name checked and lower-cased.
	set("name", func(c goja.FunctionCall) goja.Value {
		_, js := rt.headerName(c.Argument(0))
		return js
	})

	// The methods of Headers.prototype, with this a Headers object.
	methods := vm.NewObject()
	// Each takes as many arguments as its length: fewer is WebIDL's
	// TypeError.
	method := func(name string, arity int, fn func(goja.FunctionCall) goja.Value) {
		f := vm.ToValue(func(c goja.FunctionCall) goja.Value {
			if len(c.Arguments) < arity {
				rt.throwType("Failed to execute '%s' on 'Headers': %s", name, argumentsRequired(arity, len(c.Arguments)))
			}
			return fn(c)
		}).(*goja.Object)
		nameFunction(vm, f, name, arity)
		if err := methods.Set(name, f); err != nil {
			panic(err)
		}
	}
	method("append", 2, func(c goja.FunctionCall) goja.Value {
		hl := rt.mutableHeaders(c.This)
		name, js := rt.headerName(c.Argument(0))
		hl.add(name, js, rt.headerValue(c.Argument(1)))
		return goja.Undefined()
	})
	method("set", 2, func(c goja.FunctionCall) goja.Value {
		hl := rt.mutableHeaders(c.This)
		name, js := rt.headerName(c.Argument(0))
		hl.set(name, js, rt.headerValue(c.Argument(1)))
		return goja.Undefined()
	})
	method("delete", 1, func(c goja.FunctionCall) goja.Value {
		hl := rt.mutableHeaders(c.This)
		name, _ := rt.headerName(c.Argument(0))
		hl.delete(name)
		return goja.Undefined()
	})
	method("get", 1, func(c goja.FunctionCall) goja.Value {
		hl := rt.thisHeaders(c.This)
		name, _ := rt.headerName(c.Argument(0))
		return rt.joined(hl, name)
	})
	method("has", 1, func(c goja.FunctionCall) goja.Value {
		hl := rt.thisHeaders(c.This)
		name, _ := rt.headerName(c.Argument(0))
		return vm.ToValue(slices.ContainsFunc(hl.entries, named(name)))
	})
	method("getSetCookie", 0, func(c goja.FunctionCall) goja.Value {
		hl := rt.thisHeaders(c.This)
		var out []any
		for _, e := range hl.entries {
			if e.name == "set-cookie" {
				out = append(out, e.value)
			}
		}
		return vm.NewArray(out...)
	})
	if err := ops.Set("methods", methods); err != nil {
		panic(err)
	}
	return ops
}

// stateOrThrow returns the header list of a state object the prelude
// passed.
func (rt *jsRuntime) stateOrThrow(v goja.Value) *headerList {
	hl := stateHeaders(v)
	if hl == nil {
		rt.throwType("Illegal invocation")
	}
	return hl
}

// argumentsRequired is WebIDL's "2 arguments required, but only 1
// present."
func argumentsRequired(n, got int) string {
	plural := "s"
	if n == 1 {
		plural = ""
	}
	return strconv.Itoa(n) + " argument" + plural + " required, but only " + strconv.Itoa(got) + " present."
}

// nameFunction gives a native function a method's name and length:
// read-only, configurable.
func nameFunction(vm *goja.Runtime, f *goja.Object, name string, length int) {
	for _, p := range []struct {
		key string
		val any
	}{{"name", name}, {"length", length}} {
		if err := f.DefineDataProperty(p.key, vm.ToValue(p.val), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
			panic(err)
		}
	}
}

// headerState returns the state object of an immutable header list of h,
// with the Host header first when host is set: the headers of an
// incoming request (net/http keeps Host apart, Workers scripts read it
// from request.headers) and of a fetch's response.
func (rt *jsRuntime) headerState(host string, h http.Header) *goja.Object {
	n := len(h)
	if host != "" {
		n++
	}
	hl := &headerList{entries: make([]headerEntry, 0, n), immutable: true}
	if host != "" {
		hl.add("host", rt.hostKey, rt.vm.ToValue(host))
	}
	for k, vs := range h {
		lk := rt.lowerName(k)
		for _, v := range vs {
			hl.add(lk.name, lk.js, rt.vm.ToValue(v))
		}
	}
	return rt.newHeaderState(hl)
}

// lowerName returns a name of an http.Header lower-cased, from the cache
// of headerName. Only a valid name is cached: Go's client takes names
// Headers refuses (one with a space), which a fetched response must not
// make valid for the script's calls.
func (rt *jsRuntime) lowerName(k string) headerName {
	if n, ok := rt.headerNames[k]; ok {
		return n
	}
	l := strings.ToLower(k)
	n := headerName{name: l, js: rt.vm.ToValue(l)}
	if httpguts.ValidHeaderFieldName(k) {
		rt.cacheName(k, n)
	}
	return n
}

// eachHeader calls f for each entry of a state object's list.
func eachHeader(v goja.Value, f func(name, value string)) {
	if hl := stateHeaders(v); hl != nil {
		for _, e := range hl.entries {
			f(e.name, e.value.String())
		}
	}
}
