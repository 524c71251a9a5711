package workerhost

import (
	"fmt"

	"github.com/dop251/goja"
)

// hostArity is host.arity(fn, n, what, name): it returns a native function
// named name that throws WebIDL's TypeError when called with fewer than n
// arguments ("<what>: 2 arguments required, but only 1 present.") and
// otherwise calls fn with the same this and arguments.
//
// It exists because goja builds an arguments object on every call of a
// function that reads `arguments` (about a dozen allocations, four times
// the cost of the call), and a method cannot count its arguments
// otherwise: an explicit undefined must not read as missing. Headers.set
// and append are called a dozen times per request by frameworks; calling
// JavaScript from a native function costs no allocation.
func (rt *jsRuntime) hostArity(c goja.FunctionCall) goja.Value {
	vm := rt.vm
	fn, ok := goja.AssertFunction(c.Argument(0))
	if !ok {
		panic(vm.NewTypeError("arity: not a function"))
	}
	n := int(c.Argument(1).ToInteger())
	what := c.Argument(2).String()
	plural := "s"
	if n == 1 {
		plural = ""
	}
	f := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		if len(call.Arguments) < n {
			panic(vm.NewTypeError(fmt.Sprintf("%s: %d argument%s required, but only %d present.", what, n, plural, len(call.Arguments))))
		}
		v, err := fn(call.This, call.Arguments...)
		if err != nil {
			// A JavaScript exception goes on as itself; an interrupt too,
			// as goja passes uncatchable errors through native frames.
			panic(err)
		}
		return v
	}).(*goja.Object)
	// As a method's: read-only, configurable.
	for _, p := range []struct {
		key string
		val goja.Value
	}{{"name", c.Argument(3)}, {"length", vm.ToValue(n)}} {
		if err := f.DefineDataProperty(p.key, p.val, goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
			panic(err)
		}
	}
	return f
}
