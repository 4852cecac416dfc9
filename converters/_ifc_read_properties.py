"""IFC element attributes, property sets and quantities as flat, typed feature attributes.

Per element (:meth:`PropertyReader.attributes`):

- ``GlobalId``, ``Name``, ``Description``, ``ObjectType``, ``Tag`` (as written, when set);
- ``PredefinedType``: the element's, else its type object's (``USERDEFINED`` resolved to the
  user's name, as :func:`ifcopenshell.util.element.get_predefined_type` does);
- ``storey``: the name of the IfcBuildingStorey containing the element (directly, through
  the aggregate or nest it is a part of, through a space, or for windows and doors through the
  opening they fill and the wall it voids);
- ``material``: the names of its materials (layer, profile and constituent sets expanded,
  inherited from the type object when the occurrence has none), ``"; "``-joined;
- every property of its property sets and every quantity of its element quantities as one
  column ``<set name>.<property name>`` (e.g. ``Pset_WallCommon.IsExternal``,
  ``Qto_WallBaseQuantities.NetVolume``), type object's sets first, the occurrence's overriding.

Values keep their type: IfcBoolean -> bool (IfcLogical UNKNOWN -> no value), integers -> int,
reals and measures -> float, labels/texts/identifiers/enumerations -> str; enumerated and list
values are joined with ``", "``; bounded values give ``.LowerBound``/``.UpperBound`` columns;
complex properties nest their names (``Set.Complex.Sub``). Lengths, areas, volumes and masses
(properties typed as such measures and quantities) are converted to metres, m², m³ and kg,
using the property's own unit or the project's; other measures stay as written.

Column names are ``<set>.<property>`` as written in the file; the glTF/3D Tiles writers derive
their metadata identifiers from them deterministically (``Pset_WallCommon_IsExternal``, see
:func:`citymodel.converters.property_table.property_identifier`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from citymodel._typing import AttributeValue

if TYPE_CHECKING:
    import ifcopenshell

__all__ = ["PropertyReader", "attribute"]

_LENGTH = frozenset({"IfcLengthMeasure", "IfcPositiveLengthMeasure", "IfcNonNegativeLengthMeasure"})
_AREA = frozenset({"IfcAreaMeasure"})
_VOLUME = frozenset({"IfcVolumeMeasure"})
_MASS = frozenset({"IfcMassMeasure"})
_QUANTITY_VALUES: dict[str, tuple[str, str | None]] = {
    "IfcQuantityLength": ("LengthValue", "LENGTHUNIT"),
    "IfcQuantityArea": ("AreaValue", "AREAUNIT"),
    "IfcQuantityVolume": ("VolumeValue", "VOLUMEUNIT"),
    "IfcQuantityWeight": ("WeightValue", "MASSUNIT"),
    "IfcQuantityCount": ("CountValue", None),
    "IfcQuantityTime": ("TimeValue", None),
    "IfcQuantityNumber": ("NumberValue", None),
}
_MAX_DEPTH = 3
_MAX_HOPS = 32
_ABSENT = -1
_INDEX: dict[tuple[str, str], int] = {}
"""(schema-qualified class, attribute name) -> attribute index, or -1 for "no such attribute"."""


def attribute(entity: ifcopenshell.entity_instance, name: str) -> Any:
    """``entity.<name>`` (None when the class has no such attribute), by a cached index.

    Indexed access is about 10x faster than ifcopenshell's ``__getattr__`` (which looks the
    attribute up by name on every call); inverse attributes go through ``getattr``.
    """
    key = (entity.is_a(True), name)
    index = _INDEX.get(key)
    if index is None:
        try:
            index = int(entity.get_argument_index(name))
        except (RuntimeError, AttributeError):
            index = _ABSENT
        if not 0 <= index < len(entity):  # unknown and inverse attributes
            index = _ABSENT
        _INDEX[key] = index
    if index == _ABSENT:
        return getattr(entity, name, None)
    return entity[index]


class PropertyReader:
    """Reads the attributes of the elements of one model.

    The relationships (containment, aggregation, types, materials, property definitions) are
    indexed once for the whole model; flattened property sets are cached by instance, since
    models share them between elements (type objects always, occurrences often).

    Parameters
    ----------
    model
        The opened IFC model.
    """

    def __init__(self, model: ifcopenshell.file) -> None:
        import ifcopenshell.util.unit

        self._model = model
        self._scales: dict[str, float] = {}
        for unit_type in ("LENGTHUNIT", "AREAUNIT", "VOLUMEUNIT", "MASSUNIT"):
            try:
                scale = float(ifcopenshell.util.unit.calculate_unit_scale(model, unit_type))
            except (ValueError, TypeError, AttributeError):
                scale = 1.0
            self._scales[unit_type] = scale
        self._sets: dict[int, dict[str, AttributeValue]] = {}
        self._storeys: dict[int, str | None] = {}
        self._container: dict[int, ifcopenshell.entity_instance] = {}
        self._parent: dict[int, ifcopenshell.entity_instance] = {}
        self._type: dict[int, ifcopenshell.entity_instance] = {}
        self._definitions: dict[int, list[ifcopenshell.entity_instance]] = {}
        self._material: dict[int, ifcopenshell.entity_instance] = {}
        self._index()

    def _index(self) -> None:
        """One pass over the relationships of the model."""
        model = self._model
        for rel in model.by_type("IfcRelContainedInSpatialStructure"):
            for element in rel.RelatedElements or ():
                self._container.setdefault(element.id(), rel.RelatingStructure)
        for rel in model.by_type("IfcRelAggregates"):
            for part in rel.RelatedObjects or ():
                self._parent[part.id()] = rel.RelatingObject
        for name in ("IfcRelNests", "IfcRelVoidsElement", "IfcRelFillsElement"):
            if _declared(model, name):
                for rel in model.by_type(name):
                    self._index_link(rel)
        for rel in model.by_type("IfcRelDefinesByProperties"):
            definitions = rel.RelatingPropertyDefinition
            listed = list(definitions) if isinstance(definitions, tuple) else [definitions]
            for element in rel.RelatedObjects or ():
                self._definitions.setdefault(element.id(), []).extend(d for d in listed if d)
        if _declared(model, "IfcRelDefinesByType"):
            for rel in model.by_type("IfcRelDefinesByType"):
                for element in rel.RelatedObjects or ():
                    self._type[element.id()] = rel.RelatingType
        for rel in model.by_type("IfcRelAssociatesMaterial"):
            for element in rel.RelatedObjects or ():
                self._material.setdefault(element.id(), rel.RelatingMaterial)

    def _index_link(self, rel: ifcopenshell.entity_instance) -> None:
        """Nested parts and filling/voiding elements find their storey through their host."""
        if rel.is_a("IfcRelNests"):
            for part in rel.RelatedObjects or ():
                self._parent.setdefault(part.id(), rel.RelatingObject)
        elif rel.is_a("IfcRelFillsElement"):  # a window fills an opening of its wall
            self._parent.setdefault(rel.RelatedBuildingElement.id(), rel.RelatingOpeningElement)
        else:  # IfcRelVoidsElement: the opening voids its host
            self._parent.setdefault(rel.RelatedOpeningElement.id(), rel.RelatingBuildingElement)

    # -- public --------------------------------------------------------------------------

    def attributes(self, element: ifcopenshell.entity_instance) -> dict[str, AttributeValue]:
        """All attributes of ``element`` (see the module docstring), None values left out."""
        out: dict[str, AttributeValue] = {}
        for name in ("GlobalId", "Name", "Description", "ObjectType", "Tag"):
            value = attribute(element, name)
            if isinstance(value, str) and value:
                out[name] = value
        element_type = self._type.get(element.id())
        predefined = _predefined_type(element, element_type)
        if predefined:
            out["PredefinedType"] = predefined
        storey = self.storey(element)
        if storey:
            out["storey"] = storey
        material = self.material(element, element_type)
        if material:
            out["material"] = material
        if element_type is not None:
            for definition in attribute(element_type, "HasPropertySets") or ():
                out.update(self._flatten_cached(definition))
        for definition in self._definitions.get(element.id(), ()):
            out.update(self._flatten_cached(definition))
        return out

    def storey(self, element: ifcopenshell.entity_instance) -> str | None:
        """Name of the IfcBuildingStorey holding ``element`` (None when there is none).

        Followed upwards: containment, aggregation, nesting, and for windows and doors the
        opening they fill and the wall it voids.
        """
        current: ifcopenshell.entity_instance | None = element
        for _ in range(_MAX_HOPS):
            if current is None:
                return None
            key = current.id()
            if current.is_a("IfcBuildingStorey"):
                if key not in self._storeys:
                    self._storeys[key] = (
                        attribute(current, "Name")
                        or attribute(current, "LongName")
                        or attribute(current, "GlobalId")
                    )
                return self._storeys[key]
            current = self._container.get(key) or self._parent.get(key)
        return None

    def material(
        self,
        element: ifcopenshell.entity_instance,
        element_type: ifcopenshell.entity_instance | None = None,
    ) -> str | None:
        """``"; "``-joined names of the element's materials (type's when it has none)."""
        found = self._material.get(element.id())
        if found is None and element_type is not None:
            found = self._material.get(element_type.id())
        if found is None:
            return None
        names = [name for m in _materials(found) if (name := attribute(m, "Name"))]
        return "; ".join(dict.fromkeys(names)) or None

    # -- property sets -------------------------------------------------------------------

    def _flatten_cached(
        self, definition: ifcopenshell.entity_instance
    ) -> dict[str, AttributeValue]:
        key = definition.id()
        cached = self._sets.get(key)
        if cached is None:
            cached = self._sets[key] = self._flatten_set(definition)
        return cached

    def _flatten_set(self, definition: ifcopenshell.entity_instance) -> dict[str, AttributeValue]:
        name = attribute(definition, "Name")
        out: dict[str, AttributeValue] = {}
        if not name:
            return out
        if definition.is_a("IfcPropertySet"):
            for prop in attribute(definition, "HasProperties") or ():
                self._property(f"{name}.{attribute(prop, 'Name')}", prop, out, 0)
        elif definition.is_a("IfcElementQuantity"):
            for quantity in attribute(definition, "Quantities") or ():
                self._quantity(f"{name}.{attribute(quantity, 'Name')}", quantity, out, 0)
        return out

    def _property(
        self,
        column: str,
        prop: ifcopenshell.entity_instance,
        out: dict[str, AttributeValue],
        depth: int,
    ) -> None:
        kind = prop.is_a()
        unit = attribute(prop, "Unit")
        if kind == "IfcPropertySingleValue":
            value = self._value(attribute(prop, "NominalValue"), unit)
            if value is not None:
                out[column] = value
        elif kind == "IfcPropertyEnumeratedValue":
            self._joined(column, attribute(prop, "EnumerationValues"), out)
        elif kind == "IfcPropertyListValue":
            self._joined(column, attribute(prop, "ListValues"), out)
        elif kind == "IfcPropertyBoundedValue":
            for bound in ("LowerBoundValue", "UpperBoundValue"):
                value = self._value(attribute(prop, bound), unit)
                if value is not None:
                    out[f"{column}.{bound.removesuffix('Value')}"] = value
        elif kind == "IfcComplexProperty" and depth < _MAX_DEPTH:
            for sub in attribute(prop, "HasProperties") or ():
                self._property(f"{column}.{attribute(sub, 'Name')}", sub, out, depth + 1)

    def _quantity(
        self,
        column: str,
        quantity: ifcopenshell.entity_instance,
        out: dict[str, AttributeValue],
        depth: int,
    ) -> None:
        kind = quantity.is_a()
        spec = _QUANTITY_VALUES.get(kind)
        if spec is not None:
            name, unit_type = spec
            raw = attribute(quantity, name)
            if raw is None:
                return
            value: AttributeValue = raw
            if unit_type is not None and isinstance(raw, int | float):
                value = float(raw) * self._unit_scale(unit_type, attribute(quantity, "Unit"))
            elif isinstance(raw, float) and raw.is_integer() and kind == "IfcQuantityCount":
                value = int(raw)
            out[column] = value
        elif kind == "IfcPhysicalComplexQuantity" and depth < _MAX_DEPTH:
            for sub in attribute(quantity, "HasQuantities") or ():
                self._quantity(f"{column}.{attribute(sub, 'Name')}", sub, out, depth + 1)

    def _joined(self, column: str, values: Any, out: dict[str, AttributeValue]) -> None:
        texts = [str(v) for v in (self._value(x, None) for x in values or ()) if v is not None]
        if texts:
            out[column] = ", ".join(texts)

    def _unit_scale(self, unit_type: str, unit: ifcopenshell.entity_instance | None) -> float:
        if unit is not None:
            import ifcopenshell.util.unit

            try:
                return float(ifcopenshell.util.unit.get_unit_scale(unit))
            except (AttributeError, TypeError, ValueError):
                return 1.0
        return self._scales.get(unit_type, 1.0)

    def _value(self, value: Any, unit: ifcopenshell.entity_instance | None) -> AttributeValue:
        """A typed IFC value (IfcLabel('x'), IfcLengthMeasure(3.0), ...) as a Python scalar."""
        if value is None:
            return None
        measure = value.is_a() if hasattr(value, "is_a") else None
        raw = value[0] if measure is not None else value
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            if measure == "IfcLogical":  # .T./.F. arrive as bool, .U. as text
                return None
            return raw
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float):
            unit_type = None
            if measure in _LENGTH:
                unit_type = "LENGTHUNIT"
            elif measure in _AREA:
                unit_type = "AREAUNIT"
            elif measure in _VOLUME:
                unit_type = "VOLUMEUNIT"
            elif measure in _MASS:
                unit_type = "MASSUNIT"
            return raw * self._unit_scale(unit_type, unit) if unit_type else raw
        return None


def _declared(model: ifcopenshell.file, name: str) -> bool:
    import ifcopenshell

    schema = ifcopenshell.ifcopenshell_wrapper.schema_by_name(model.schema_identifier)
    try:
        schema.declaration_by_name(name)
    except RuntimeError:
        return False
    return True


def _predefined_type(
    element: ifcopenshell.entity_instance, element_type: ifcopenshell.entity_instance | None
) -> str | None:
    """The type object's PredefinedType, else the element's; USERDEFINED -> the user's name."""
    if element_type is not None:
        value = attribute(element_type, "PredefinedType")
        if value == "USERDEFINED" or not value:
            value = attribute(element_type, "ElementType") or attribute(element_type, "ProcessType")
        if value and value != "NOTDEFINED":
            return str(value)
    value = attribute(element, "PredefinedType")
    if value == "USERDEFINED" or not value:
        value = attribute(element, "ObjectType")
    return str(value) if value else None


def _materials(material: ifcopenshell.entity_instance) -> list[ifcopenshell.entity_instance]:
    """The IfcMaterials of a material select (usages and sets expanded)."""
    if material.is_a("IfcMaterialLayerSetUsage"):
        material = material.ForLayerSet
    elif material.is_a("IfcMaterialProfileSetUsage"):
        material = material.ForProfileSet
    if material is None:
        return []
    if material.is_a("IfcMaterial"):
        return [material]
    if material.is_a("IfcMaterialLayerSet"):
        return [layer.Material for layer in material.MaterialLayers or () if layer.Material]
    if material.is_a("IfcMaterialProfileSet"):
        return [p.Material for p in material.MaterialProfiles or () if p.Material]
    if material.is_a("IfcMaterialConstituentSet"):
        return [c.Material for c in material.MaterialConstituents or () if c.Material]
    if material.is_a("IfcMaterialList"):
        return list(material.Materials or ())
    return []
