// Imports a package from node_modules beside the script.
import { slugify } from "tiny-lib";
export default {
  fetch(request) {
    return new Response(slugify(new URL(request.url).searchParams.get("t") || "Hello World"));
  },
};
