// An editable list in a fieldset (the phrasings of one language, the links, the buttons): each
// item has its own fields and a "Ta bort" button, and "Lägg till" adds one and moves the focus there.
import { clear, dom, fieldId, t } from "./staff_common.js";

export class ListEditor {
  /**
   * key: the field name of the list ("phrasings.sv", "links"); legend, hint, addLabel: texts;
   * itemName(n): what item n is called ("Formulering 3"); render(item, key, n): the item's fields;
   * read(key, original): the item as the form has it now; blank(): a new item.
   */
  constructor(options) {
    const { items, ...rest } = options;
    Object.assign(this, rest);
    this.originals = [...(items || [])];
    this.list = dom("ol", { class: "list-items" });
    this.node = dom("fieldset", { class: "list-editor", dataset: { field: this.key } },
      dom("legend", { text: this.legend }),
      this.hint ? dom("p", { class: "hint", text: this.hint }) : null,
      dom("p", { class: "problem", id: fieldId(this.key, "p"), hidden: true }),
      this.list,
      dom("button", { type: "button", class: "secondary", text: this.addLabel, onclick: () => this.add() }));
    this.draw();
  }

  itemKey(index) {
    return `${this.key}.${index}`;
  }

  draw(focusIndex) {
    clear(this.list);
    this.originals.forEach((item, index) => {
      const n = index + 1;
      const remove = dom("button", {
        type: "button", class: "secondary small", onclick: () => this.remove(index),
      }, t("remove"), dom("span", { class: "visually-hidden", text: " " + this.itemName(n) }));
      this.list.append(dom("li", { class: "list-item" }, this.render(item, this.itemKey(index), n), remove));
    });
    if (focusIndex !== undefined) {
      const target = this.list.children[focusIndex];
      const control = target && target.querySelector("input, textarea, select");
      if (control) control.focus();
      else this.node.querySelector(":scope > button").focus();
    }
  }

  /** The items as the form has them now (the originals' other keys kept). */
  items() {
    return this.originals.map((original, index) => this.read(this.itemKey(index), original));
  }

  add() {
    this.originals = [...this.items(), this.blank()];
    this.draw(this.originals.length - 1);
  }

  remove(index) {
    const items = this.items();
    items.splice(index, 1);
    this.originals = items;
    this.draw(Math.min(index, items.length - 1) >= 0 ? Math.min(index, items.length - 1) : undefined);
    if (!items.length) this.node.querySelector(":scope > button").focus();
  }
}

const value = (key) => {
  const node = document.getElementById(fieldId(key));
  return node ? node.value : "";
};

export { value as fieldValue };
