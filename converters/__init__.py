"""Format readers and mesh writers (CityGML, glTF/GLB, OBJ); installed as ``citymodel.converters``."""
