// Streams a body from a pull-based ReadableStream and pipes it through a transform.
export default {
  fetch() {
    let i = 0;
    const source = new ReadableStream({
      pull(controller) {
        if (++i > 3) return controller.close();
        controller.enqueue(`line ${i}\n`);
      },
    });
    const upper = new TransformStream({
      transform(chunk, controller) { controller.enqueue(chunk.toUpperCase()); },
      flush(controller) { controller.enqueue("END\n"); },
    });
    return new Response(source.pipeThrough(upper).pipeThrough(new TextEncoderStream()));
  },
};
