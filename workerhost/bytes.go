package workerhost

import (
	"github.com/dop251/goja"
)

// Byte work of the Web APIs done in Go: goja runs a JavaScript loop over
// 350 KB in tenths of a second, and its iterator-based builtins
// (TypedArray.from, Array.from over a typed array) take about as long.
// BenchmarkBytes measures them.

// hostConcat implements host.concat(chunks, total): one Uint8Array with
// the bytes of the chunks (Uint8Arrays), in order.
func (rt *jsRuntime) hostConcat(c goja.FunctionCall) goja.Value {
	o, ok := c.Argument(0).(*goja.Object)
	if !ok {
		rt.throwType("expected an array of Uint8Arrays")
	}
	var chunks [][]byte
	if err := rt.vm.ExportTo(o, &chunks); err != nil {
		rt.throwType("expected an array of Uint8Arrays")
	}
	total := 0
	for _, b := range chunks {
		total += len(b)
	}
	out := make([]byte, 0, total)
	for _, b := range chunks {
		out = append(out, b...)
	}
	return rt.bytes(out)
}

// hostArrayFromTyped implements host.arrayFromTyped(view): an Array of
// the numbers of an integer typed array, as Array.from gives. (Float
// arrays stay in JavaScript: goja would turn -0 into 0 on the way back.)
func (rt *jsRuntime) hostArrayFromTyped(c goja.FunctionCall) goja.Value {
	switch s := c.Argument(0).Export().(type) {
	case []byte:
		return numbersArray(rt.vm, s)
	case []int8:
		return numbersArray(rt.vm, s)
	case []uint16:
		return numbersArray(rt.vm, s)
	case []int16:
		return numbersArray(rt.vm, s)
	case []uint32:
		return numbersArray(rt.vm, s)
	case []int32:
		return numbersArray(rt.vm, s)
	}
	rt.throwType("expected an integer typed array")
	return nil
}

func numbersArray[T byte | int8 | uint16 | int16 | uint32 | int32](vm *goja.Runtime, s []T) goja.Value {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return vm.NewArray(out...)
}

// handleArg returns argument 0 of a native call: a Go value (a compression
// stream, a hash) that a native handed JavaScript as an opaque object. It
// throws a TypeError when the argument is not a T.
func handleArg[T any](rt *jsRuntime, c goja.FunctionCall, what string) T {
	h, ok := c.Argument(0).Export().(T)
	if !ok {
		rt.throwType("not a %s", what)
	}
	return h
}
