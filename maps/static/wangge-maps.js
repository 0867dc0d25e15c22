/* Wangge maps: GeoJSON layers with tooltips, popups and labels, legends and a category
 * filter, on top of Leaflet. Loaded after leaflet.js; everything hangs on window.wangge. */
(function () {
  "use strict";
  var W = (window.wangge = {});

  function esc(value) {
    return String(value)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }
  W.esc = esc;

  /* A table of the feature's fields: fields is [[property, label], ...]; empty values skipped. */
  function table(props, fields) {
    var rows = "";
    fields.forEach(function (f) {
      var v = props[f[0]];
      if (v === null || v === undefined || v === "") return;
      rows += "<tr><th>" + esc(f[1]) + "</th><td>" + esc(v) + "</td></tr>";
    });
    return "<table class='wg-table'>" + rows + "</table>";
  }
  W.table = table;

  function styleOf(spec, props) {
    var s = L.Util.extend({}, spec.style || {});
    if (props._color) s.color = props._color;
    if (props._fill) s.fillColor = props._fill;
    return s;
  }

  function pointLayer(spec, feature, latlng) {
    var p = feature.properties;
    if (spec.point === "icon") {
      var size = spec.iconSize || [24, 24];
      return L.marker(latlng, {
        icon: L.divIcon({
          className: "wg-icon " + (spec.iconClass || "") + " " + (p._class || ""),
          html: p._html || "",
          iconSize: size,
          iconAnchor: [size[0] / 2, size[1] / 2],
        }),
        keyboard: false,
        interactive: !!(spec.tooltip || spec.popup),
      });
    }
    return L.circleMarker(latlng, L.Util.extend(styleOf(spec, p), { radius: spec.radius || 6 }));
  }

  /* Point labels made only when zoomed in to spec.minZoom, and only around the view: a
   * thousand grid labels would otherwise weigh on every pan and zoom. */
  function lazyLabels(spec, data) {
    var group = L.layerGroup();
    function refresh() {
      var map = group._map;
      group.clearLayers();
      if (!map || map.getZoom() < spec.minZoom) return;
      var view = map.getBounds().pad(0.25);
      data.features.forEach(function (f) {
        var c = f.geometry.coordinates;
        var at = L.latLng(c[1], c[0]);
        if (view.contains(at)) group.addLayer(pointLayer(spec, f, at));
      });
    }
    group.on("add", function () {
      group._map.on("zoomend moveend", refresh);
      refresh();
    });
    group.on("remove", function () {
      group._map.off("zoomend moveend", refresh);
    });
    return group;
  }

  /* A GeoJSON layer (clustered when spec.cluster); spec: style, tooltip, popup, point, ... */
  W.featureLayer = function (map, spec, data) {
    if (spec.minZoom) return lazyLabels(spec, data);
    var options = {
      style: function (feature) {
        return styleOf(spec, feature.properties);
      },
      pointToLayer: function (feature, latlng) {
        return pointLayer(spec, feature, latlng);
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        if (spec.tooltip) layer.bindTooltip(table(p, spec.tooltip), { sticky: !spec.point });
        if (spec.popup) layer.bindPopup(table(p, spec.popup), { maxWidth: 320 });
      },
    };
    if (spec.canvas) options.renderer = L.canvas({ padding: 0.3 });
    if (spec.pane) options.pane = spec.pane;
    var layer = L.geoJSON(data, options);
    if (!spec.cluster) return layer;
    var group = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50,
                                       chunkedLoading: true });
    group.wgMarkers = layer.getLayers();
    group.addLayers(group.wgMarkers);
    return group;
  };

  function control(map, html, position, className) {
    var Ctl = L.Control.extend({
      onAdd: function () {
        var div = L.DomUtil.create("div", "wg-panel leaflet-bar " + (className || ""));
        div.innerHTML = html;
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        return div;
      },
    });
    return new Ctl({ position: position }).addTo(map);
  }

  /* The legend (and the map's title) as a collapsible panel. */
  W.legend = function (map, html, position) {
    var ctl = control(map, html, position || "bottomright", "wg-legend");
    // On a phone the legend starts folded, leaving the map to the eye.
    var details = ctl.getContainer().querySelector("details");
    if (details && window.innerWidth < 600) details.removeAttribute("open");
    return ctl;
  };

  /* A panel of check boxes that keeps in the cluster only the markers of the ticked values. */
  W.categoryFilter = function (map, group, prop, choices, title, position) {
    var html = "<details open><summary>" + esc(title) + "</summary>";
    choices.forEach(function (c, i) {
      html += "<label><input type='checkbox' checked data-i='" + i + "'> " + esc(c[1]) +
        " <span class='wg-count'>" + c[2] + "</span></label>";
    });
    html += "</details>";
    var ctl = control(map, html, position || "topleft", "wg-filter");
    var boxes = ctl.getContainer().querySelectorAll("input");
    function apply() {
      var keep = {};
      boxes.forEach(function (b) {
        if (b.checked) keep[choices[+b.dataset.i][0]] = true;
      });
      group.clearLayers();
      group.addLayers(group.wgMarkers.filter(function (m) {
        return keep[m.feature.properties[prop]];
      }));
    }
    boxes.forEach(function (b) {
      b.addEventListener("change", apply);
    });
    return ctl;
  };

  /* The vector basemap (maps/basemap.py): data holds GeoJSON of green, water, waterways,
   * railways, roads (rank 1 arterial, 2 street, 3 lane), buildings, communities and street
   * label points (name, angle, rank). Drawn on one canvas in a pane under our layers; labels
   * and building outlines only when zoomed in (spec.labelZoom per rank, spec.buildingZoom).
   * With spec.after, drawn once the map fires that event (a page's own layers first), or
   * after spec.afterTimeoutMs without it; its layers may then come as JSON text, read only
   * then. */
  var ROAD_WIDTH = { 1: 5, 2: 3, 3: 1.5 };
  W.basemap = function (map, spec, data) {
    if (!map.getPane("wgBase")) {
      map.createPane("wgBase").style.zIndex = 250;
      var labelPane = map.createPane("wgBaseLabels");
      labelPane.style.zIndex = 450;
      labelPane.style.pointerEvents = "none";
    }
    var renderer = L.canvas({ pane: "wgBase", padding: 0.3 });
    function layer(name, style) {
      if (!data[name]) return null;
      return L.geoJSON(data[name], { renderer: renderer, pane: "wgBase", interactive: false,
                                     style: style });
    }
    function fixed(style) {
      return function () { return style; };
    }
    function road(casing) {
      return function (f) {
        var w = ROAD_WIDTH[f.properties.rank] || 1.5;
        return casing ? { color: "#d6d0c4", weight: w + 2, opacity: 1, lineCap: "round" }
                      : { color: "#ffffff", weight: w, opacity: 1, lineCap: "round" };
      };
    }
    var group = L.layerGroup();
    var buildings = null;
    var labels = L.layerGroup();
    var filled = false;
    function refresh() {
      if (!filled) return;
      var zoom = map.getZoom();
      if (buildings) {  // over the other layers: added after them
        var want = zoom >= spec.buildingZoom;
        if (want && !group.hasLayer(buildings)) group.addLayer(buildings);
        if (!want && group.hasLayer(buildings)) group.removeLayer(buildings);
      }
      labels.clearLayers();
      if (!data.labels) return;
      var view = map.getBounds().pad(0.2);
      data.labels.features.forEach(function (f) {
        var p = f.properties;
        if (zoom < (spec.labelZoom[(p.rank || 3) - 1] || 99)) return;
        var c = f.geometry.coordinates;
        var at = L.latLng(c[1], c[0]);
        if (!view.contains(at)) return;
        labels.addLayer(L.marker(at, {
          pane: "wgBaseLabels", interactive: false, keyboard: false,
          icon: L.divIcon({
            className: "wg-street" + (p.rank === 1 ? " wg-arterial" : ""), iconSize: [0, 0],
            html: "<div style='transform:translate(-50%,-50%) rotate(" + (+p.angle || 0) +
              "deg)'>" + esc(p.name) + "</div>",
          }),
        }));
      });
    }
    /* The layers made and drawn (a layer given as JSON text is read here, not before). */
    function fill() {
      if (filled) return;
      filled = true;
      Object.keys(data).forEach(function (name) {
        if (typeof data[name] === "string") data[name] = JSON.parse(data[name]);
      });
      [
        layer("green", fixed({ stroke: false, fillColor: "#d9ead0", fillOpacity: 1 })),
        layer("water", fixed({ stroke: false, fillColor: "#bcd6ec", fillOpacity: 1 })),
        layer("waterways", fixed({ color: "#a9c9e6", weight: 3, opacity: 1 })),
        layer("roads", road(true)),
        layer("roads", road(false)),
        layer("railways", fixed({ color: "#9a9a9a", weight: 2, dashArray: "8 5", opacity: 1 })),
        layer("communities", fixed({ color: "#9a8fb0", weight: 1.5, dashArray: "10 4 2 4",
                                     fill: false, opacity: 0.9 })),
      ].forEach(function (l) {
        if (l) group.addLayer(l);
      });
      buildings = layer("buildings", fixed({ color: "#cbbfae", weight: 0.6,
                                             fillColor: "#e6ded2", fillOpacity: 1 }));
      group.addLayer(labels);
      if (group._map) refresh();
      map.getContainer().dataset.wgBasemapMs = String(Math.round(performance.now()));
    }
    if (spec.after) {
      map.once(spec.after, function () {
        setTimeout(fill, 0);
      });
      setTimeout(fill, spec.afterTimeoutMs || 10000);
    } else {
      fill();
    }
    group.on("add", function () {
      map.on("zoomend moveend", refresh);
      refresh();
    });
    group.on("remove", function () {
      map.off("zoomend moveend", refresh);
    });
    return group;
  };

  /* What every map does once: attribution, language, title, view. */
  W.frame = function (map, opts) {
    document.documentElement.lang = opts.lang === "en" ? "en" : "zh-CN";
    if (opts.title) document.title = opts.title;
    map.attributionControl.setPrefix("Leaflet");
    if (opts.lang !== "en" && map.zoomControl) {
      map.zoomControl._zoomInButton.title = "放大";
      map.zoomControl._zoomOutButton.title = "缩小";
    }
    map.attributionControl.addAttribution(esc(opts.attribution));
    var container = map.getContainer();
    if (opts.bounds) map.fitBounds(opts.bounds, { padding: [12, 12], animate: false });
    container.dataset.wgReadyMs = String(Math.round(performance.now()));
    container.dataset.wgReady = "1";
  };
})();
