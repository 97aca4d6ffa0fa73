/* The designer's drag and drop (SortableJS). Without scripts every list still works: each
   item has an order number (and, on the form editor, a section number) that people type.
   With scripts, dragging rewrites those inputs, so the server reads the same answer. */
(function () {
  'use strict';

  function renumber(list) {
    var section = list.getAttribute('data-section');
    var n = 0;
    Array.prototype.forEach.call(list.children, function (item) {
      var order = item.querySelector('input.order');
      if (order) { n += 1; order.value = String(n); }
      var place = item.querySelector('select.place');
      if (place !== null && section !== null) { place.value = section; }
    });
  }

  function start() {
    if (typeof Sortable === 'undefined') { return; }
    document.querySelectorAll('.design-sortable').forEach(function (list) {
      var group = list.getAttribute('data-group');
      Sortable.create(list, {
        group: group || undefined,
        handle: '.drag-handle',
        animation: 120,
        forceFallback: true,  // mouse and touch events, not HTML5 drag: the same on every browser
        emptyInsertThreshold: 24,
        onSort: function (event) {
          renumber(event.to);
          if (event.from !== event.to) { renumber(event.from); }
        }
      });
    });
    document.documentElement.classList.add('design-dnd');
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
