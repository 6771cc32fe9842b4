// Staff pages work without this file; it fills the reply box from a template.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("reply-text");
  var buttons = document.querySelectorAll("button.template");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (event) {
      if (!box) { return; }
      var text = event.currentTarget.getAttribute("data-text");
      box.value = box.value ? text + "\n" + box.value : text;
      box.focus();
    });
  }
});
