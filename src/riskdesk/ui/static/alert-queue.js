// The alert queue: "select all" ticks every alert of this page for a bulk action, and
// follows the rows (unticking one unticks it, ticking the last ticks it).
(function () {
  var all = document.getElementById("select-all");
  if (!all) return;
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#alert-queue input.pick-row"));
  }
  all.addEventListener("change", function () {
    rows().forEach(function (box) { box.checked = all.checked; });
  });
  rows().forEach(function (box) {
    box.addEventListener("change", function () {
      var boxes = rows();
      all.checked = boxes.length > 0 && boxes.every(function (b) { return b.checked; });
    });
  });
})();
