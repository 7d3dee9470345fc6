// Small conveniences; every page works without this file.
// The controls apply as soon as one changes, and the custom dates show only when chosen.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form.controls");
  if (!form) return;
  const range = form.querySelector("select[name=range]");
  const custom = form.querySelectorAll(".custom");
  const sync = () => custom.forEach((el) => el.classList.toggle("off", range.value !== "custom"));
  range.addEventListener("change", () => {
    sync();
    if (range.value !== "custom") form.requestSubmit();
  });
  form.querySelectorAll("select[name=merchant], select[name=compare]").forEach((el) =>
    el.addEventListener("change", () => form.requestSubmit()));
  sync();
});
