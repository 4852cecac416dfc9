<?xml version="1.0" encoding="UTF-8"?>
<!-- CGML-3: the lod2Solid only references the polygons of the thematic surfaces.
     Rendering both would draw every face twice; the reader must give 6 polygons. -->
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0"
    xmlns:bldg="http://www.opengis.net/citygml/building/2.0"
    xmlns:gml="http://www.opengis.net/gml" xmlns:xlink="http://www.w3.org/1999/xlink">
  <gml:boundedBy>
    <gml:Envelope srsName="urn:adv:crs:ETRS89_UTM32*DE_DHHN2016_NH" srsDimension="3">
      <gml:lowerCorner>458870 5438350 100</gml:lowerCorner>
      <gml:upperCorner>458880 5438358 106</gml:upperCorner>
    </gml:Envelope>
  </gml:boundedBy>
  <core:cityObjectMember>
    <bldg:Building gml:id="BLDG_1">
      <bldg:lod2Solid>
        <gml:Solid>
          <gml:exterior>
            <gml:CompositeSurface>
              <gml:surfaceMember xlink:href="#P_ground"/>
              <gml:surfaceMember xlink:href="#P_roof"/>
              <gml:surfaceMember xlink:href="#P_south"/>
              <gml:surfaceMember xlink:href="#P_east"/>
              <gml:surfaceMember xlink:href="#P_north"/>
              <gml:surfaceMember xlink:href="#P_west"/>
            </gml:CompositeSurface>
          </gml:exterior>
        </gml:Solid>
      </bldg:lod2Solid>
      <bldg:boundedBy>
        <bldg:GroundSurface gml:id="S_ground">
          <bldg:lod2MultiSurface>
            <gml:MultiSurface>
              <gml:surfaceMember>
                <gml:Polygon gml:id="P_ground">
                  <gml:exterior><gml:LinearRing><gml:posList srsDimension="3">
                    458870 5438350 100 458870 5438358 100 458880 5438358 100 458880 5438350 100 458870 5438350 100
                  </gml:posList></gml:LinearRing></gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
            </gml:MultiSurface>
          </bldg:lod2MultiSurface>
        </bldg:GroundSurface>
      </bldg:boundedBy>
      <bldg:boundedBy>
        <bldg:RoofSurface gml:id="S_roof">
          <bldg:lod2MultiSurface>
            <gml:MultiSurface>
              <gml:surfaceMember>
                <gml:Polygon gml:id="P_roof">
                  <gml:exterior><gml:LinearRing><gml:posList srsDimension="3">
                    458870 5438350 106 458880 5438350 106 458880 5438358 106 458870 5438358 106 458870 5438350 106
                  </gml:posList></gml:LinearRing></gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
            </gml:MultiSurface>
          </bldg:lod2MultiSurface>
        </bldg:RoofSurface>
      </bldg:boundedBy>
      <bldg:boundedBy>
        <bldg:WallSurface gml:id="S_walls">
          <bldg:lod2MultiSurface>
            <gml:MultiSurface>
              <gml:surfaceMember>
                <gml:Polygon gml:id="P_south">
                  <gml:exterior><gml:LinearRing><gml:posList srsDimension="3">
                    458870 5438350 100 458880 5438350 100 458880 5438350 106 458870 5438350 106 458870 5438350 100
                  </gml:posList></gml:LinearRing></gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="P_east">
                  <gml:exterior><gml:LinearRing><gml:posList srsDimension="3">
                    458880 5438350 100 458880 5438358 100 458880 5438358 106 458880 5438350 106 458880 5438350 100
                  </gml:posList></gml:LinearRing></gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="P_north">
                  <gml:exterior><gml:LinearRing><gml:posList srsDimension="3">
                    458880 5438358 100 458870 5438358 100 458870 5438358 106 458880 5438358 106 458880 5438358 100
                  </gml:posList></gml:LinearRing></gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="P_west">
                  <gml:exterior><gml:LinearRing><gml:posList srsDimension="3">
                    458870 5438358 100 458870 5438350 100 458870 5438350 106 458870 5438358 106 458870 5438358 100
                  </gml:posList></gml:LinearRing></gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
            </gml:MultiSurface>
          </bldg:lod2MultiSurface>
        </bldg:WallSurface>
      </bldg:boundedBy>
    </bldg:Building>
  </core:cityObjectMember>
</core:CityModel>
