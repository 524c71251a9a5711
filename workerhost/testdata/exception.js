// Throws from a nested function.
function parseOrder(text) {
  const order = JSON.parse(text || "{}");
  if (!order.id) {
    throw new TypeError("order has no id");
  }
  return order;
}

export default {
  async fetch(request) {
    const order = parseOrder(await request.text());
    return Response.json(order);
  },
};
