// Forgets to return a Response.
export default {
  async fetch(request) {
    console.log("handling", request.url);
  },
};
