// radinpaint review page: shows one output at a time beside its original, saves ratings.
(function () {
  "use strict";
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const rater = meta("review-rater");
  const token = meta("review-token");
  const $ = (id) => document.getElementById(id);
  const reasonBoxes = Array.from(document.querySelectorAll('input[name="reason"]'));
  let items = [];
  let index = 0;
  let busy = false;

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }

  function ratedCount() {
    return items.filter((e) => e.rating !== null).length;
  }

  function showProgress() {
    const done = ratedCount();
    $("progress").value = done;
    $("progress").max = items.length;
    $("progress-text").textContent = `${done} of ${items.length} rated`;
    $("position").textContent = `output ${index + 1} of ${items.length}`;
    document.body.dataset.index = String(index);
    document.body.dataset.rated = String(done);
  }

  function show(i) {
    if (!items.length) return;
    index = Math.max(0, Math.min(items.length - 1, i));
    const item = items[index];
    const base = `/img/${item.hash}/`;
    $("original").src = base + "original.png";
    $("output").src = base + "output.png";
    $("outline-original").src = base + "outline.png";
    $("outline-output").src = base + "outline.png";
    $("output").dataset.hash = item.hash;
    document.body.dataset.hash = item.hash;
    const r = item.rating;
    const chosen = new Set(r ? r.reasons : []);
    reasonBoxes.forEach((box) => { box.checked = chosen.has(box.value); });
    $("comment").value = r ? r.comment : "";
    const verdict = $("verdict");
    verdict.classList.toggle("yes", Boolean(r && r.acceptable));
    verdict.classList.toggle("no", Boolean(r && !r.acceptable));
    verdict.textContent = r ? (r.acceptable ? "rated: acceptable" : "rated: not acceptable")
                            : "not rated yet";
    showProgress();
  }

  function nextUnrated() {
    for (let step = 1; step <= items.length; step++) {
      const j = (index + step) % items.length;
      if (items[j].rating === null) return j;
    }
    return -1;
  }

  async function save(acceptable) {
    if (busy || !items.length) return;
    busy = true;
    const item = items[index];
    const body = {
      output_hash: item.hash,
      acceptable: acceptable,
      reasons: reasonBoxes.filter((b) => b.checked).map((b) => b.value),
      comment: $("comment").value,
    };
    setStatus("saving…", false);
    try {
      const response = await fetch(`/api/${encodeURIComponent(rater)}/rating`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Review-Token": token },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        setStatus(`not saved: ${answer.error || response.statusText}`, true);
        return;
      }
      item.rating = answer.saved;
      const done = ratedCount();
      if (done === items.length) {
        show(index);
        setStatus(`saved; all ${items.length} outputs rated`, false);
      } else {
        show(index + 1 < items.length ? index + 1 : nextUnrated());
        setStatus("saved", false);
      }
    } catch (err) {
      setStatus(`not saved: ${err}`, true);
    } finally {
      busy = false;
      document.body.dataset.busy = "0";
    }
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "TEXTAREA" ||
                   (target.tagName === "INPUT" && target.type !== "checkbox"))) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const key = event.key;
    let handled = true;
    if (key === "a") {
      save(true);
    } else if (key === "r") {
      save(false);
    } else if (/^[1-9]$/.test(key) && Number(key) <= reasonBoxes.length) {
      const box = reasonBoxes[Number(key) - 1];
      box.checked = !box.checked;
    } else if (key === "ArrowRight" || key === "j") {
      show(index + 1);
    } else if (key === "ArrowLeft" || key === "k") {
      show(index - 1);
    } else if (key === "u") {
      const j = nextUnrated();
      if (j >= 0) show(j);
    } else if (key === "o") {
      document.body.classList.toggle("hide-outline");
    } else if (key === "c") {
      $("comment").focus();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  }

  async function load() {
    setStatus("loading…", false);
    const response = await fetch(`/api/${encodeURIComponent(rater)}/items`,
                                 { credentials: "same-origin" });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      setStatus(`cannot load the outputs: ${answer.error || response.statusText}`, true);
      return;
    }
    items = answer.items;
    show(answer.resume);
    setStatus(ratedCount() === items.length ? `all ${items.length} outputs rated` : "", false);
    document.body.dataset.ready = "1";
  }

  $("accept").addEventListener("click", () => save(true));
  $("reject").addEventListener("click", () => save(false));
  $("next").addEventListener("click", () => show(index + 1));
  $("prev").addEventListener("click", () => show(index - 1));
  $("toggle-outline").addEventListener("click",
    () => document.body.classList.toggle("hide-outline"));
  document.addEventListener("keydown", onKey);
  load();
})();
