/* Tailor's script for every page. The Content-Security-Policy forbids inline event
   handlers (onsubmit="..."), so behaviour declared in the markup is wired here:
   a form with data-confirm="question" asks before it is submitted. */
document.addEventListener('submit', function (event) {
  var question = event.target.getAttribute && event.target.getAttribute('data-confirm');
  if (question && !window.confirm(question)) { event.preventDefault(); }
});
