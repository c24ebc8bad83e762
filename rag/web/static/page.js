// Clicking a [n] marker, or a card's "Open article" button: show that answer's sources,
// mark the card active, open its article in the viewer scrolled to the passage.
(() => {
  if (window.newsrag) return;
  // Scroll only inside `box` (never the window) so that `el` shows `offset` px below its top;
  // when `focus` would then fall below the fold, bring it up to a quarter of the box below `offset`.
  function reveal(box, el, offset, focus) {
    const top = () => box.getBoundingClientRect().top;
    box.scrollTop += el.getBoundingClientRect().top - top() - offset;
    if (focus && focus.getBoundingClientRect().bottom > top() + box.clientHeight) {
      box.scrollTop += focus.getBoundingClientRect().top - top() - offset - (box.clientHeight - offset) / 4;
    }
  }
  // Each source card's passage box is short: scroll it to its highlighted quote.
  function centerQuotes(root) {
    (root || document).querySelectorAll('.sources .turn.current blockquote.passage').forEach((q) => {
      const mark = q.querySelector('mark');
      if (!mark || !q.clientHeight) return;
      const m = mark.getBoundingClientRect();
      q.scrollTop += m.top - q.getBoundingClientRect().top - Math.max(6, (q.clientHeight - m.height) / 2);
    });
  }
  function openSource(turn, n) {
    const panel = document.querySelector('.sources');
    const viewer = document.querySelector('.viewer');
    const card = document.getElementById(`src-${turn}-${n}`);
    if (!panel || !viewer || !card) return;
    panel.querySelectorAll('.turn').forEach(
      (t) => t.classList.toggle('current', t.dataset.turn === String(turn)));
    panel.querySelectorAll('.source.active').forEach((c) => c.classList.remove('active'));
    card.classList.add('active');
    centerQuotes(panel);
    reveal(panel, card, 8);
    viewer.querySelectorAll('.article').forEach((a) => { a.hidden = a.id !== `art-${turn}-${n}`; });
    viewer.querySelectorAll('.placeholder').forEach((p) => { p.hidden = true; });
    const article = document.getElementById(`art-${turn}-${n}`);
    const passage = document.getElementById(`passage-${turn}-${n}`);
    if (article && passage) {
      const head = article.querySelector('header');
      reveal(viewer, passage, (head ? head.offsetHeight : 0) + 12, passage.querySelector('mark'));
    }
    const box = panel.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) panel.scrollIntoView({block: 'start'});
  }
  window.newsrag = {openSource, centerQuotes};
  document.addEventListener('click', (event) => {
    const el = event.target.closest && event.target.closest('a.cite, button.open-article');
    if (!el) return;
    let turn = el.dataset.turn, n = el.dataset.n;
    if (el.matches('a.cite')) {
      const m = /^#src-(\d+)-(\d+)$/.exec(el.getAttribute('href') || '');
      if (!m) return;
      [turn, n] = [m[1], m[2]];
    }
    event.preventDefault();
    event.stopPropagation();
    openSource(turn, n);
  }, true);
})();
