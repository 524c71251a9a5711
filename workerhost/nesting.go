package workerhost

import (
	"fmt"

	"github.com/dop251/goja"
)

// MaxJSONDepth bounds the nesting of the JSON that JSON.parse accepts, as
// Go's encoding/json bounds its own. goja parses JSON by recursive descent
// in Go, with no bound of its own: a request body of some megabytes of
// "[" would overflow the Go stack, which is fatal to the whole process, and
// a value nested that deep makes JSON.stringify's cycle check quadratic,
// in native code the CPU limit cannot interrupt. Past the bound JSON.parse
// throws a RangeError, as V8 does when it runs out of stack.
const MaxJSONDepth = 10_000

// guardJSONParse replaces JSON.parse by a function that checks the
// nesting of its text, with a Go scan that costs a fraction of the parse,
// before it calls the original. The text is converted to a string once, as
// JSON.parse does, and passed on as such.
func guardJSONParse(vm *goja.Runtime) error {
	json := vm.Get("JSON").ToObject(vm)
	parse, ok := goja.AssertFunction(json.Get("parse"))
	if !ok {
		return fmt.Errorf("JSON.parse is not a function")
	}
	rangeError, _ := goja.AssertConstructor(vm.Get("RangeError"))
	guarded := vm.ToValue(func(c goja.FunctionCall) goja.Value {
		text := c.Argument(0).String()
		if jsonDepth(text, MaxJSONDepth) > MaxJSONDepth {
			e, err := rangeError(nil, vm.ToValue(fmt.Sprintf("JSON.parse: the text is nested deeper than %d levels", MaxJSONDepth)))
			if err != nil {
				panic(err)
			}
			panic(e)
		}
		v, err := parse(c.This, vm.ToValue(text), c.Argument(1))
		if err != nil {
			panic(err)
		}
		return v
	}).ToObject(vm)
	if err := guarded.DefineDataProperty("name", vm.ToValue("parse"), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE); err != nil {
		return err
	}
	if err := guarded.DefineDataProperty("length", vm.ToValue(2), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE); err != nil {
		return err
	}
	return json.DefineDataProperty("parse", guarded, goja.FLAG_TRUE, goja.FLAG_FALSE, goja.FLAG_TRUE)
}

// jsonDepth returns the deepest nesting of arrays and objects in s, a
// JSON text, or a number past limit as soon as it passes it. Brackets in
// strings do not count; a malformed text is the parser's to reject.
func jsonDepth(s string, limit int) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > limit {
					return deepest
				}
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// arrayToStringGuard makes Array.prototype.toString and toLocaleString
// JavaScript functions that call the originals. goja converts nested
// arrays to strings by recursion in Go, which counts against no bound
// but Go's stack: String() of an array nested a few million deep, which a
// script can build in a global over a few requests, would end the process.
// Through these wrappers every level of nesting is also a JavaScript call,
// so the recursion stops at the call-stack bound (maxCallStackSize) with
// an error that fails the request instead.
var arrayToStringGuard = goja.MustCompile("gradual:nesting.js", `(function () {
	"use strict";
	var proto = Array.prototype;
	["toString", "toLocaleString"].forEach(function (name) {
		var original = proto[name];
		var wrapped = { [name]() { return original.apply(this, arguments); } }[name];
		Object.defineProperty(proto, name, { value: wrapped, writable: true, enumerable: false, configurable: true });
	});
})();`, true)

// guardNesting installs the guards of this file in vm.
func guardNesting(vm *goja.Runtime) error {
	if err := guardJSONParse(vm); err != nil {
		return err
	}
	_, err := vm.RunProgram(arrayToStringGuard)
	return err
}
