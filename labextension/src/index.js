// The JupyterLab / Notebook 7 side of freddy_magic: two small plugins the Python package cannot
// provide from the kernel.
//
// - A %%freddy cell's body is a prompt, so it is highlighted as Markdown (the mime type Markdown
//   cells use) instead of Python. The notebook sets every code cell's mime type when the cell is
//   created and again whenever the kernel's language changes; each such change is answered by
//   putting the cell's own mime type back, and the source is followed as it is edited.
// - The key prompt's first field is focused when it first appears, unless the user is writing in
//   a cell. A focus() sent from the kernel is dropped by ipywidgets when it arrives before the
//   view has rendered; here the view's own element is seen as it is added. The Python widgets
//   mark the field with FOCUS_CLASS.
import { INotebookTracker } from '@jupyterlab/notebook';

const MARKDOWN_MIME = 'text/x-ipythongfm';
// IPython drops leading blank lines and indentation before it looks for a cell magic.
const FREDDY_CELL = /^\s*%%freddy\b/;
const FOCUS_CLASS = 'freddy-focus';

/** The mime type a code cell should have, or null to leave it as it is. */
function wantedMime(notebook, cell) {
  if (FREDDY_CELL.test(cell.sharedModel.getSource())) {
    return MARKDOWN_MIME;
  }
  // Only a cell this plugin made Markdown goes back; the notebook's own choice is left alone.
  return cell.mimeType === MARKDOWN_MIME ? notebook.codeMimetype : null;
}

function followCell(notebook, cell, followed) {
  if (cell.type !== 'code' || followed.has(cell)) {
    return;
  }
  followed.add(cell);
  const apply = () => {
    const wanted = wantedMime(notebook, cell);
    // the setter emits mimeTypeChanged, which calls apply again: it finds nothing to do then
    if (wanted !== null && cell.mimeType !== wanted) {
      cell.mimeType = wanted;
    }
  };
  cell.sharedModel.changed.connect((_, change) => {
    if (change.sourceChange) {
      apply();
    }
  });
  cell.mimeTypeChanged.connect(apply);
  apply();
}

function followNotebook(notebook) {
  const followed = new WeakSet();
  const followModel = () => {
    const model = notebook.model;
    if (!model) {
      return;
    }
    for (const cell of model.cells) {
      followCell(notebook, cell, followed);
    }
    model.cells.changed.connect((_, change) => {
      if (change.type === 'add' || change.type === 'set') {
        for (const cell of change.newValues) {
          followCell(notebook, cell, followed);
        }
      }
    });
  };
  notebook.modelChanged.connect(followModel);
  followModel();
}

const highlight = {
  id: 'freddy-magic:highlight',
  description: 'Highlights %%freddy cells as Markdown.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app, tracker) => {
    tracker.forEach(panel => followNotebook(panel.content));
    tracker.widgetAdded.connect((_, panel) => followNotebook(panel.content));
  }
};

/**
 * True while the keyboard is in a cell that holds text: the user is writing there (a prompt that
 * renders during Run All, say), and their next keystrokes must not land in a key field. An empty
 * cell is the one Shift+Enter just added below the last cell: the prompt takes the focus from it.
 */
function userIsWriting() {
  const active = document.activeElement;
  const editor = active && active.closest ? active.closest('.cm-editor') : null;
  const content = editor ? editor.querySelector('.cm-content') : null;
  return !!content && content.textContent.trim() !== '';
}

const focus = {
  id: 'freddy-magic:focus',
  description: 'Focuses the first field of a freddy_magic prompt once, when it is first shown.',
  autoStart: true,
  activate: () => {
    // A live collection of elements in the page: checking it on each batch of DOM changes costs
    // next to nothing.
    const marked = document.getElementsByClassName(FOCUS_CLASS);
    const focused = new WeakSet();
    const focusNew = () => {
      for (const element of marked) {
        const field = element.matches('input, textarea')
          ? element
          : element.querySelector('input, textarea');
        if (field && !focused.has(element)) {
          focused.add(element);
          if (!userIsWriting()) {
            field.focus();
          }
        }
      }
    };
    new MutationObserver(focusNew).observe(document.body, {
      childList: true,
      subtree: true
    });
  }
};

export default [highlight, focus];
