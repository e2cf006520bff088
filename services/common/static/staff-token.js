"use strict";
// The staff pages' token (docs/security.md, "Pages"): pasted into the page or passed in a link's
// fragment (#token=..., which browsers never send to a server), kept for this tab only
// (sessionStorage), never in the URL, the history or persistent storage.
const StaffToken = (() => {
  const KEY = "cc-token";
  localStorage.removeItem(KEY);  // earlier versions of the pages kept it there
  const url = new URL(location.href);
  const fromFragment = new URLSearchParams(url.hash.slice(1)).get("token");
  const inQuery = url.searchParams.has("token");  // already sent to the server: not used
  if (fromFragment) sessionStorage.setItem(KEY, fromFragment.trim());
  if (fromFragment || inQuery) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
  }
  return {
    get: () => sessionStorage.getItem(KEY) || "",
    set: (token) => token.trim() ? sessionStorage.setItem(KEY, token.trim()) : sessionStorage.removeItem(KEY),
    refusedFromQuery: inQuery && !fromFragment,
  };
})();
