// The top navigation's drop-downs are <details> elements and work without this script; it only
// keeps one open at a time and closes it on Escape (focus back on its title) or a click elsewhere.
(function () {
  function menus() { return document.querySelectorAll(".topbar details.nav-menu"); }
  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!opened.matches || !opened.matches(".topbar details.nav-menu") || !opened.open) return;
    menus().forEach(function (m) { if (m !== opened) m.open = false; });
  }, true);
  document.addEventListener("click", function (event) {
    menus().forEach(function (m) { if (m.open && !m.contains(event.target)) m.open = false; });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    menus().forEach(function (m) {
      if (!m.open) return;
      m.open = false;
      m.querySelector("summary").focus();
    });
  });
})();
