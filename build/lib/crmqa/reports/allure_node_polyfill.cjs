// Loaded by crmqa into Allure 3's Node process (NODE_OPTIONS=--require): Allure's quality
// gate calls Iterator.prototype.toArray, which Node has from version 22 only. On Node 22 and
// newer this does nothing.
const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
if (typeof IteratorPrototype.toArray !== "function") {
  Object.defineProperty(IteratorPrototype, "toArray", {
    value: function toArray() {
      const items = [];
      for (const item of { [Symbol.iterator]: () => this }) items.push(item);
      return items;
    },
    writable: true,
    configurable: true,
  });
}
