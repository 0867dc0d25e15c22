/* Wangge plan editor: select buildings (click, shift-click, box, lasso), move them, split,
 * merge, lock, undo, redo, re-balance and diff a draft plan through the service's editor API
 * (/plans/{id}/editor). Loaded after leaflet.js; hangs on window.wanggeEditor (wangge-maps.js
 * owns window.wangge). Every answer of the API is drawn at once: figures, colours, polygons. */
(function () {
  "use strict";
  var E = (window.wanggeEditor = {});
  var PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
    "#a6761d", "#1f78b4", "#b15928", "#6a3d9a", "#33a02c", "#ff7f00"];

  function esc(value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;");
  }

  function fmt(text, args) {
    return text.replace(/\{(\d+)\}/g, function (_, i) { return args[+i]; });
  }

  function hashColor(code) {
    var h = 0;
    for (var i = 0; i < code.length; i++) h = (h * 31 + code.charCodeAt(i)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  /* Ray casting: is [lng, lat] inside the ring of [lng, lat] points? */
  function inside(pt, ring) {
    var x = pt[0], y = pt[1], hit = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }

  /* The draft's building footprints (packed by maps.geometry.packed_polygons: integers of
   * 1e-6 degree, delta-coded) as ONE path on a canvas renderer. 10,000 buildings are drawn
   * in a few canvas paths (one per style), and a click or hover finds the building under
   * the mouse itself (bounding boxes, then the even-odd rule), instead of 10,000 Leaflet
   * layers each with its own projection, style and handlers. styleOf(i) gives the style of
   * building i; it must return the same object for the same style (they are grouped by it). */
  var RAD = Math.PI / 180, MAX_SIN = Math.sin(85.0511287798 * RAD);
  var Footprints = L.Path.extend({
    initialize: function (packed, styleOf, options) {
      L.setOptions(this, options);
      this.styleOf = styleOf;
      this._read(packed);
    },

    /* Other polygons in place of these (the grids after an edit), drawn on the next frame. */
    setData: function (packed) {
      if (this._map && this._pxBounds) this._renderer._extendRedrawBounds(this);  // old place
      this._read(packed);
      if (this._map) { this._project(); this.refresh(); }
      return this;
    },

    _read: function (packed) {
      var n = packed.ids.length, c = packed.coords, nv = c.length / 2, k, r, i;
      this.ids = packed.ids;
      this.values = packed.values;
      this.hit = -1;
      this.index = {};
      for (i = 0; i < n; i++) this.index[packed.ids[i]] = i;
      // vertices: lon/lat, and Web Mercator at zoom 0 (Leaflet's EPSG:3857, 256 px wide)
      var lng = (this._lng = new Float64Array(nv)), lat = (this._lat = new Float64Array(nv));
      var mx = (this._mx = new Float64Array(nv)), my = (this._my = new Float64Array(nv));
      var x = packed.origin[0], y = packed.origin[1], scale = packed.scale;
      for (k = 0; k < nv; k++) {
        x += c[2 * k]; y += c[2 * k + 1];
        lng[k] = x / scale; lat[k] = y / scale;
        var sin = Math.max(Math.min(Math.sin(lat[k] * RAD), MAX_SIN), -MAX_SIN);
        mx[k] = 256 * (0.5 + lng[k] / 360);
        my[k] = 256 * (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI));
      }
      // rings: where each ring's vertices start; features: where each one's rings start
      var sizes = packed.sizes, rings = packed.rings;
      this._ringStart = new Int32Array(sizes.length + 1);
      for (r = 0; r < sizes.length; r++) this._ringStart[r + 1] = this._ringStart[r] + sizes[r];
      this._featStart = new Int32Array(n + 1);
      for (i = 0; i < n; i++) this._featStart[i + 1] = this._featStart[i] + rings[i];
      this._px = new Float64Array(nv);
      this._py = new Float64Array(nv);
      this._box = new Float64Array(4 * n);
    },

    /* Feature i's bounds (L.LatLngBounds). */
    bounds: function (i) {
      var a = this._ringStart[this._featStart[i]], b = this._ringStart[this._featStart[i + 1]];
      var out = L.latLngBounds([]);
      for (var k = a; k < b; k++) out.extend([this._lat[k], this._lng[k]]);
      return out;
    },

    /* A building's centre, [lng, lat]: the mean of its first ring's vertices. */
    centre: function (i) {
      var r = this._featStart[i], a = this._ringStart[r], b = this._ringStart[r + 1];
      var x = 0, y = 0, m = Math.max(1, b - a);
      for (var k = a; k < b; k++) { x += this._lng[k]; y += this._lat[k]; }
      return [x / m, y / m];
    },

    _project: function () {
      var map = this._map, f = Math.pow(2, map.getZoom()), o = map.getPixelOrigin();
      var px = this._px, py = this._py, mx = this._mx, my = this._my, box = this._box;
      var k, i, n = this.ids.length, x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (k = 0; k < px.length; k++) { px[k] = mx[k] * f - o.x; py[k] = my[k] * f - o.y; }
      for (i = 0; i < n; i++) {
        var a = this._ringStart[this._featStart[i]], b = this._ringStart[this._featStart[i + 1]];
        var bx0 = Infinity, by0 = Infinity, bx1 = -Infinity, by1 = -Infinity;
        for (k = a; k < b; k++) {
          if (px[k] < bx0) bx0 = px[k];
          if (px[k] > bx1) bx1 = px[k];
          if (py[k] < by0) by0 = py[k];
          if (py[k] > by1) by1 = py[k];
        }
        box[4 * i] = bx0; box[4 * i + 1] = by0; box[4 * i + 2] = bx1; box[4 * i + 3] = by1;
        if (bx0 < x0) x0 = bx0;
        if (by0 < y0) y0 = by0;
        if (bx1 > x1) x1 = bx1;
        if (by1 > y1) y1 = by1;
      }
      this._pxBounds = n && x0 <= x1 ? L.bounds([x0, y0], [x1, y1]) : null;
    },

    _update: function () {},

    _updatePath: function () {
      var r = this._renderer;
      if (!r._drawing) return;
      var ctx = r._ctx, view = r._redrawBounds || r._bounds, box = this._box;
      var groups = [], byStyle = new Map(), i, j, k, n = this.ids.length;
      for (i = 0; i < n; i++) {
        if (box[4 * i + 2] < view.min.x - 2 || box[4 * i] > view.max.x + 2 ||
            box[4 * i + 3] < view.min.y - 2 || box[4 * i + 1] > view.max.y + 2) continue;
        var style = this.styleOf(i), g = byStyle.get(style);
        if (!g) { g = { style: style, members: [] }; byStyle.set(style, g); groups.push(g); }
        g.members.push(i);
      }
      groups.sort(function (a, b) { return (a.style.z || 0) - (b.style.z || 0); });
      var px = this._px, py = this._py, rs = this._ringStart, fs = this._featStart;
      ctx.lineJoin = "round";
      ctx.lineCap = "round";
      groups.forEach(function (g) {
        ctx.beginPath();
        g.members.forEach(function (f) {
          for (j = fs[f]; j < fs[f + 1]; j++) {
            var a = rs[j], b = rs[j + 1];
            if (b <= a) continue;
            ctx.moveTo(px[a], py[a]);
            for (k = a + 1; k < b; k++) ctx.lineTo(px[k], py[k]);
            ctx.closePath();
          }
        });
        var s = g.style;
        ctx.globalAlpha = s.fillOpacity;
        ctx.fillStyle = s.fillColor;
        ctx.fill("evenodd");
        ctx.globalAlpha = s.opacity === undefined ? 1 : s.opacity;
        ctx.lineWidth = s.weight;
        ctx.strokeStyle = s.color;
        if (ctx.setLineDash) ctx.setLineDash(s.dash || []);
        ctx.stroke();
      });
      if (ctx.setLineDash) ctx.setLineDash([]);
    },

    /* Is the layer point p on a building? Sets this.hit to that building (else -1). */
    _containsPoint: function (p) {
      var box = this._box, px = this._px, py = this._py, rs = this._ringStart;
      var fs = this._featStart, x = p.x, y = p.y;
      for (var i = this.ids.length - 1; i >= 0; i--) {
        if (x < box[4 * i] - 1 || x > box[4 * i + 2] + 1 || y < box[4 * i + 1] - 1 ||
            y > box[4 * i + 3] + 1) continue;
        var inside = false;
        for (var j = fs[i]; j < fs[i + 1]; j++) {
          for (var a = rs[j], b = rs[j + 1], k = a, l = b - 1; k < b; l = k++) {
            if ((py[k] > y) !== (py[l] > y) &&
                x < ((px[l] - px[k]) * (y - py[k])) / (py[l] - py[k]) + px[k]) inside = !inside;
          }
        }
        if (inside) { this.hit = i; return true; }
      }
      this.hit = -1;
      return false;
    },

    /* Draw again (styles changed) on the next frame. */
    refresh: function () {
      if (this._map && this._renderer) this._renderer._requestRedraw(this);
      return this;
    },
  });
  E.Footprints = Footprints;

  /* GeoJSON Polygon / MultiPolygon geometries (lon/lat) in the packed form Footprints reads
   * (as maps.geometry.packed_polygons makes it: integers of 1e-6 degree, delta-coded,
   * rings without their closing vertex); a null geometry gives a feature of no ring. */
  function packGeometries(ids, geometries) {
    var rings = [], sizes = [], coords = [], origin = null, px = 0, py = 0;
    geometries.forEach(function (g) {
      var polys = !g ? [] : g.type === "Polygon" ? [g.coordinates] :
        g.type === "MultiPolygon" ? g.coordinates : [];
      var count = 0;
      polys.forEach(function (poly) {
        poly.forEach(function (ring) {
          var n = ring.length > 1 && ring[0][0] === ring[ring.length - 1][0] &&
            ring[0][1] === ring[ring.length - 1][1] ? ring.length - 1 : ring.length;
          for (var k = 0; k < n; k++) {
            var x = Math.round(ring[k][0] * 1e6), y = Math.round(ring[k][1] * 1e6);
            if (origin === null) { origin = [x, y]; px = x; py = y; }
            coords.push(x - px, y - py);
            px = x; py = y;
          }
          sizes.push(n);
          count++;
        });
      });
      rings.push(count);
    });
    return { scale: 1e6, origin: origin || [0, 0], ids: ids, values: ids.map(function () { return 0; }),
      rings: rings, sizes: sizes, coords: coords };
  }
  E.packGeometries = packGeometries;

  /* A performance mark (the bench reads them: where the page's time goes). */
  function mark(name) {
    if (window.performance && performance.mark) performance.mark(name);
  }

  /* The editor on ``map``. Its data come from the service (opts.api, opts.gridsUrl,
   * opts.footprintsUrl), read by the requests the page started in its <head>
   * (window.wgEditorFetch) when there are, so that they run while Leaflet loads. */
  E.start = function (map, opts) {
    mark("wg-editor-start");
    var T = opts.text;
    var st = {
      version: null, stats: {}, order: [], summary: null, gridOf: {}, hh: {},
      selected: {}, fault: {}, faultGrids: {}, mode: "click", busy: false,
    };
    var canvas = L.canvas({ padding: 0.3 });
    // The grids: their polygons (code -> GeoJSON geometry) drawn as ONE Footprints path
    // under the buildings (1,700 Leaflet polygons, each projected, styled and given its
    // handlers, were most of the page's drawing), made again from gridGeoms after an edit.
    var gridGeoms = {};
    var grids = null;
    var footprints = null;  // the buildings (Footprints), once their data have come

    function devColor(d) {
      if (d === null || d === undefined) return "#cccccc";
      for (var i = 0; i < opts.breaks.length; i++) if (d <= opts.breaks[i]) return opts.colors[i];
      return opts.colors[opts.colors.length - 1];
    }

    /* A grid's style: one object per style (Footprints groups the grids by it). */
    var gridStyles = {};
    function gridStyle(code) {
      var s = st.stats[code];
      var kind = st.faultGrids[code] ? "fault" : s && s.locked ? "locked" : "plain";
      var fill = devColor(s ? s.deviation_pct : null), key = kind + fill;
      return gridStyles[key] || (gridStyles[key] = {
        color: kind === "fault" ? "#ff6f00" : kind === "locked" ? "#000" : "#37474f",
        weight: kind === "fault" ? 3 : kind === "locked" ? 2.5 : 1.2,
        dash: kind === "locked" ? [6, 4] : null, fillColor: fill, fillOpacity: 0.45,
      });
    }

    /* A building's style: one object per style (Footprints groups the buildings by it). */
    var FAULT = { color: "#ff6f00", weight: 3, fillColor: "#ffcc80", fillOpacity: 0.9, z: 2 };
    var SELECTED = { color: "#d50000", weight: 2.5, fillColor: "#ff8a80", fillOpacity: 0.9, z: 1 };
    var NO_GRID = { color: "#8d8d8d", weight: 1, fillColor: "#bdbdbd", fillOpacity: 0.55 };
    var byColor = {};
    function buildingStyle(id) {
      if (st.fault[id]) return FAULT;
      if (st.selected[id]) return SELECTED;
      var g = st.gridOf[id];
      if (!g) return NO_GRID;
      var c = hashColor(g);
      return byColor[c] || (byColor[c] = { color: c, weight: 1, fillColor: c, fillOpacity: 0.55 });
    }

    /* The grids drawn again from gridGeoms (made on the first call; under the buildings). */
    function drawGrids() {
      var codes = Object.keys(gridGeoms).sort();
      var packed = packGeometries(codes, codes.map(function (c) { return gridGeoms[c]; }));
      if (grids) {
        grids.closeTooltip();  // its grid may have changed, or gone
        grids.setData(packed);
        return;
      }
      grids = new Footprints(packed, function (i) { return gridStyle(grids.ids[i]); },
                             { renderer: canvas, interactive: true });
      grids.addTo(map);
      grids.bringToBack();
      grids.on("click", function () {
        if (st.mode !== "click" || grids.hit < 0) return;
        targetSelect.value = grids.ids[grids.hit];
        gridSelect.value = grids.ids[grids.hit];
      });
      var shown = -1;
      grids.bindTooltip(function () {
        shown = grids.hit;
        return shown < 0 ? "" : tip(grids.ids[shown]);
      }, { sticky: true });
      grids.on("mousemove", function () {  // from one grid to its neighbour
        var t = grids.getTooltip();
        if (t && grids.isTooltipOpen() && grids.hit >= 0 && grids.hit !== shown) t.update();
      });
    }
    function restyleGrids() {  // figures changed: colours and an open tooltip too
      if (!grids) return;
      grids.refresh();
      var t = grids.getTooltip();
      if (t && grids.isTooltipOpen()) t.update();
    }

    function tip(code) {
      var s = st.stats[code];
      if (!s) return esc(code);
      return "<b>" + esc(code) + "</b><br>" + s.households + " " + esc(T.households) + " · " +
        (s.deviation_pct > 0 ? "+" : "") + s.deviation_pct.toFixed(1) + "%" +
        (s.worker ? "<br>" + esc(s.worker) : "");
    }

    /* Drawn once the draft's state has come (each building in its grid's colour). */
    function drawBuildings(packed) {
      footprints = new Footprints(packed, function (i) { return buildingStyle(footprints.ids[i]); },
                                  { renderer: canvas, interactive: true });
      for (var i = 0; i < packed.ids.length; i++) st.hh[packed.ids[i]] = packed.values[i] || 0;
      footprints.addTo(map);
      footprints.on("click", function (e) {
        if (st.mode !== "click" || footprints.hit < 0) return;
        L.DomEvent.stopPropagation(e);
        var id = footprints.ids[footprints.hit];
        var o = e.originalEvent;
        var add = o && (o.shiftKey || o.ctrlKey || o.metaKey);
        if (!add) clearSelection();
        toggle(id, add ? !st.selected[id] : true);
        showSelection();
      });
      var shown = -1;
      footprints.bindTooltip(function () {
        shown = footprints.hit;
        var id = footprints.ids[shown];
        return id === undefined ? "" : esc(id) + " · " + st.hh[id] + " " + esc(T.households) +
          " · " + esc(st.gridOf[id] || "");
      }, { sticky: true });
      footprints.on("mousemove", function () {  // from one building to a touching one
        var tip = footprints.getTooltip();
        if (tip && footprints.isTooltipOpen() && footprints.hit >= 0 && footprints.hit !== shown) tip.update();
      });
    }

    /* Building ``id`` changed style: drawn again on the next frame (all at once). */
    function restyle(id) {
      if (footprints) footprints.refresh();
    }
    function toggle(id, on) {
      if (on) st.selected[id] = true; else delete st.selected[id];
      restyle(id);
    }
    function clearSelection() {
      var ids = Object.keys(st.selected);
      st.selected = {};
      ids.forEach(restyle);
    }
    function clearFault() {
      var ids = Object.keys(st.fault);
      st.fault = {}; st.faultGrids = {};
      ids.forEach(restyle);
      restyleGrids();
    }

    /* ---- the panel ------------------------------------------------------------------- */
    var panel = L.control({ position: "topright" });
    var root;
    panel.onAdd = function () {
      root = L.DomUtil.create("div", "wg-editor");
      L.DomEvent.disableClickPropagation(root);
      L.DomEvent.disableScrollPropagation(root);
      root.innerHTML =
        "<h3>" + esc(opts.name || T.draft) + " <span class='wg-ver'></span></h3>" +
        "<div class='wg-summary'></div>" +
        "<div class='wg-box'>" + esc(T.mode) + ": " +
        ["click", "box", "lasso"].map(function (m) {
          return "<button type='button' data-mode='" + m + "' class='wg-mode" + (m === "click" ? " on" : "") + "'>" + esc(T[m]) + "</button>";
        }).join("") +
        " <span class='wg-selcount'></span> <button type='button' class='wg-clear'>" + esc(T.clear) + "</button></div>" +
        "<div class='wg-box'><label>" + esc(T.move_to) + " <select class='wg-target'></select></label> " +
        "<button type='button' class='wg-move'>" + esc(T.move) + "</button></div>" +
        "<div class='wg-box'><label>" + esc(T.grid) + " <select class='wg-grid'></select></label> " +
        "<button type='button' class='wg-split'>" + esc(T.split) + "</button> " +
        "<button type='button' class='wg-merge'>" + esc(T.merge_into) + "</button></div>" +
        "<div class='wg-box'><button type='button' class='wg-undo'>" + esc(T.undo) + "</button> " +
        "<button type='button' class='wg-redo'>" + esc(T.redo) + "</button> " +
        "<button type='button' class='wg-rebalance'>" + esc(T.rebalance) + "</button> " +
        "<progress class='wg-progress' max='1' value='0' hidden></progress></div>" +
        "<div class='wg-box'><button type='button' class='wg-diff'>" + esc(T.diff) + "</button> " +
        "<a class='wg-csv' href='" + esc(opts.api) + "/diff.csv' download>" + esc(T.csv) + "</a></div>" +
        "<div class='wg-message' role='status' aria-live='polite'></div>" +
        "<div class='wg-diffout'></div>" +
        "<div class='wg-tablebox'><table class='wg-stats'><thead><tr>" +
        ["col_code", "col_hh", "col_pop", "col_dev", "col_bld", "col_worker", "col_lock"].map(function (k) {
          return "<th>" + esc(T[k]) + "</th>";
        }).join("") + "</tr></thead><tbody></tbody></table></div>";
      return root;
    };
    panel.addTo(map);
    function q(sel) { return root.querySelector(sel); }
    var targetSelect = q(".wg-target"), gridSelect = q(".wg-grid");

    function message(kind, zh, en, extra) {
      var box = q(".wg-message");
      box.className = "wg-message wg-" + kind;
      var head = kind === "error" ? T.refused : kind === "conflict" ? T.conflict : "";
      var text = opts.lang === "en" ? (en || zh) : (zh || en);
      var other = opts.lang === "en" ? zh : en;
      box.innerHTML = (head ? "<b>" + esc(head) + "</b>: " : "") + esc(text) +
        (other && other !== text ? "<br><span class='wg-other'>" + esc(other) + "</span>" : "") + (extra || "");
      box.dataset.kind = kind;
    }

    function showSelection() {
      q(".wg-selcount").textContent = fmt(T.selected, [Object.keys(st.selected).length]);
    }

    function renderSummary() {
      var s = st.summary;
      if (!s) return;
      q(".wg-ver").textContent = "(" + T.version + " " + st.version + ")";
      q(".wg-summary").innerHTML = s.grids + " " + esc(T.grids) + " · " + s.households + " " +
        esc(T.households) + " · " + esc(T.max_dev) + " <b class='wg-maxdev'>" + s.max_deviation_pct.toFixed(1) +
        "%</b> · " + esc(T.mean_dev) + " <b class='wg-meandev'>" + s.mean_deviation_pct.toFixed(1) + "%</b>" +
        (s.beyond_limit.length ? "<br>" + esc(fmt(T.beyond, [opts.limit])) + ": " + esc(s.beyond_limit.join(", ")) : "");
    }

    function renderTable() {
      var rows = st.order.map(function (code) {
        var s = st.stats[code];
        return "<tr data-code='" + esc(code) + "'" + (s.locked ? " class='wg-locked'" : "") + "><td>" + esc(code) +
          "</td><td class='wg-hh'>" + s.households + "</td><td>" + Math.round(s.population) +
          "</td><td class='wg-dev' style='background:" + devColor(s.deviation_pct) + "'>" +
          (s.deviation_pct > 0 ? "+" : "") + s.deviation_pct.toFixed(1) + "%</td><td>" + s.buildings +
          "</td><td>" + esc(s.worker || "") + "</td><td><input type='checkbox' class='wg-lock' data-code='" + esc(code) + "'" +
          (s.locked ? " checked" : "") + " aria-label='" + esc(T.lock + " " + code) + "'></td></tr>";
      });
      q(".wg-stats tbody").innerHTML = rows.join("");
      var options = st.order.map(function (c) { return "<option value='" + esc(c) + "'>" + esc(c) + "</option>"; }).join("");
      var t = targetSelect.value, g = gridSelect.value;
      targetSelect.innerHTML = "<option value=''>—</option>" + options;
      gridSelect.innerHTML = "<option value=''>—</option>" + options;
      if (st.stats[t]) targetSelect.value = t;
      if (st.stats[g]) gridSelect.value = g;
    }

    function buttons(canUndo, canRedo) {
      q(".wg-undo").disabled = !canUndo || st.busy;
      q(".wg-redo").disabled = !canRedo || st.busy;
    }

    function setStats(grids) {
      grids.forEach(function (g) {
        var old = st.stats[g.code] || {};
        st.stats[g.code] = L.Util.extend({}, old, g);
      });
      st.order = Object.keys(st.stats).sort();
    }

    /* The page's first request for ``key`` (started in its <head>), else a new one. */
    function started(key, url) {
      var early = window.wgEditorFetch && window.wgEditorFetch[key];
      if (early) {
        delete window.wgEditorFetch[key];
        return early;
      }
      return fetch(url, { credentials: "same-origin" });
    }

    function request(method, path, body) {
      if (method === "GET" && path === "" && window.wgEditorFetch && window.wgEditorFetch.state) {
        return started("state").then(function (r) {
          return r.json().then(function (data) { return { status: r.status, data: data }; });
        });
      }
      return fetch(opts.api + path, {
        method: method, credentials: "same-origin",
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      }).then(function (r) {
        return r.json().then(function (data) { return { status: r.status, data: data }; });
      });
    }

    function loadState() {
      return request("GET", "").then(function (r) {
        if (r.status !== 200) {
          message("error", r.data.message && r.data.message.zh, r.data.message && r.data.message.en);
          return;
        }
        var s = r.data;
        st.version = s.version;
        st.summary = s.summary;
        st.stats = {};
        setStats(s.grids);
        var changed = [];
        Object.keys(s.buildings).forEach(function (id) {
          if (st.gridOf[id] !== s.buildings[id]) changed.push(id);
          st.gridOf[id] = s.buildings[id];
        });
        if (footprints && changed.length) footprints.refresh();
        var gone = Object.keys(gridGeoms).filter(function (code) { return !st.stats[code]; });
        gone.forEach(function (code) { delete gridGeoms[code]; });
        if (gone.length) drawGrids(); else restyleGrids();
        renderSummary();
        renderTable();
        buttons(s.can_undo, s.can_redo);
        mark("wg-editor-state");
        return s;
      });
    }

    function reloadPolygons() {
      return started("grids", opts.gridsUrl).then(function (r) { return r.json(); })
        .then(function (fc) {
          gridGeoms = {};
          (fc.features || []).forEach(function (f) {
            if (f.geometry) gridGeoms[f.properties.code] = f.geometry;
          });
          drawGrids();
          mark("wg-editor-grids");
        });
    }

    /* An edit's answer: buildings regrouped, grids redrawn, every deviation recoloured. */
    function applyAnswer(out) {
      st.version = out.version;
      st.summary = out.summary;
      out.changes.forEach(function (c) { st.gridOf[c.building_id] = c.to_grid; });
      out.removed.forEach(function (code) {
        delete st.stats[code];
        delete gridGeoms[code];
      });
      setStats(out.grids.map(function (g) {
        var copy = L.Util.extend({}, g);
        delete copy.geometry;
        return copy;
      }));
      Object.keys(out.deviations).forEach(function (code) {
        if (st.stats[code]) st.stats[code].deviation_pct = out.deviations[code];
      });
      out.grids.forEach(function (g) {
        if (g.geometry) gridGeoms[g.code] = g.geometry; else delete gridGeoms[g.code];
      });
      if (out.grids.length || out.removed.length) drawGrids(); else restyleGrids();
      clearSelection();
      out.changes.forEach(function (c) { restyle(c.building_id); });
      if (footprints && out.changes.length) footprints.closeTooltip();
      renderSummary();
      renderTable();
      buttons(out.can_undo, out.can_redo);
      showSelection();
    }

    function answer(r, okText) {
      st.busy = false;
      if (r.status === 200) {
        applyAnswer(r.data);
        message("ok", fmt(T.moved, [r.data.changes.length]) + "（" + okText + "）", fmt(T.moved, [r.data.changes.length]));
        return;
      }
      var d = r.data || {};
      var m = d.message || {};
      if (r.status === 409 && d.code === "stale_version") {
        message("conflict", m.zh, m.en, " <button type='button' class='wg-reload'>" + esc(T.reload) + "</button>");
        q(".wg-reload").onclick = function () { loadState().then(reloadPolygons); };
        return;
      }
      message("error", m.zh, m.en);
      (d.buildings || []).forEach(function (id) { st.fault[id] = true; restyle(id); });
      (d.grids || []).forEach(function (g) { st.faultGrids[g] = true; });
      restyleGrids();
      buttons(true, true);
    }

    function send(path, body, label) {
      if (st.busy) return Promise.resolve();
      st.busy = true;
      clearFault();
      body.version = st.version;
      return request("POST", path, body).then(function (r) { answer(r, label); });
    }

    q(".wg-move").onclick = function () {
      var ids = Object.keys(st.selected);
      if (!ids.length) return message("error", T.pick_buildings, T.pick_buildings);
      if (!targetSelect.value) return message("error", T.pick_grid, T.pick_grid);
      send("/edits", { kind: "move", buildings: ids, grid: targetSelect.value }, T.move);
    };
    q(".wg-split").onclick = function () {
      if (!gridSelect.value) return message("error", T.pick_grid, T.pick_grid);
      send("/edits", { kind: "split", grid: gridSelect.value }, T.split);
    };
    q(".wg-merge").onclick = function () {
      if (!gridSelect.value || !targetSelect.value) return message("error", T.pick_grid, T.pick_grid);
      send("/edits", { kind: "merge", grid: targetSelect.value, other: gridSelect.value }, T.merge_into);
    };
    q(".wg-undo").onclick = function () { send("/undo", {}, T.undo); };
    q(".wg-redo").onclick = function () { send("/redo", {}, T.redo); };
    q(".wg-clear").onclick = function () { clearSelection(); clearFault(); showSelection(); };
    q(".wg-stats").addEventListener("change", function (e) {
      var box = e.target;
      if (!box.classList.contains("wg-lock")) return;
      send("/edits", { kind: box.checked ? "lock" : "unlock", grids: [box.dataset.code] }, T.lock);
    });
    q(".wg-stats").addEventListener("click", function (e) {
      var row = e.target.closest("tr[data-code]");
      if (!row || e.target.classList.contains("wg-lock")) return;
      targetSelect.value = row.dataset.code;
      gridSelect.value = row.dataset.code;
      var i = grids ? grids.index[row.dataset.code] : undefined;
      if (i !== undefined && grids.bounds(i).isValid()) {
        map.fitBounds(grids.bounds(i), { maxZoom: 18, animate: false });
      }
    });

    q(".wg-rebalance").onclick = function () {
      if (st.busy) return;
      st.busy = true;
      clearFault();
      var bar = q(".wg-progress");
      bar.hidden = false;
      bar.value = 0;
      message("ok", T.running, T.running);
      request("POST", "/rebalance", { version: st.version }).then(function (r) {
        if (r.status !== 202) { answer(r, T.rebalance); bar.hidden = true; return; }
        var id = r.data.id;
        (function poll() {
          fetch(opts.jobs + id, { credentials: "same-origin" }).then(function (x) { return x.json(); }).then(function (job) {
            bar.value = job.progress || 0;
            if (job.status === "queued" || job.status === "running") { setTimeout(poll, 400); return; }
            st.busy = false;
            bar.value = 1;
            if (job.status !== "succeeded") {
              message("error", job.error_zh || T.failed, job.error || T.failed);
              return;
            }
            var res = job.result || {};
            loadState().then(reloadPolygons).then(function () {
              bar.hidden = true;
              message("ok", fmt(T.moved, [res.buildings_moved || 0]) + "（" + T.rebalance + "）",
                fmt(T.moved, [res.buildings_moved || 0]));
              root.dataset.rebalanced = "1";
            });
          });
        })();
      });
    };

    q(".wg-diff").onclick = function () {
      request("GET", "/diff").then(function (r) {
        var box = q(".wg-diffout");
        if (r.status !== 200) { message("error", r.data.message.zh, r.data.message.en); return; }
        var d = r.data;
        var rows = d.moves.slice(0, 50).map(function (x) {
          return "<tr><td>" + esc(x.building_id) + "</td><td>" + x.households + "</td><td>" + esc(x.from_grid || "") +
            "</td><td>" + esc(x.to_grid || "") + "</td></tr>";
        }).join("");
        box.innerHTML = "<p class='wg-diffsum'>" + esc(fmt(T.diff_summary, [d.buildings_moved, d.households_moved,
          d.grids_changed, d.grids_new, d.grids_gone, d.grids_worker_changed.length])) + "</p>" +
          "<table class='wg-difftable'><thead><tr><th>ID</th><th>" + esc(T.col_hh) + "</th><th>" + esc(T.from) +
          "</th><th>" + esc(T.to) + "</th></tr></thead><tbody>" + rows + "</tbody></table>";
        box.dataset.moved = String(d.buildings_moved);
      });
    };

    /* ---- box and lasso selection ------------------------------------------------------- */
    var drawing = null;
    root.querySelectorAll(".wg-mode").forEach(function (b) {
      b.onclick = function () {
        st.mode = b.dataset.mode;
        root.querySelectorAll(".wg-mode").forEach(function (x) { x.classList.toggle("on", x === b); });
        if (st.mode === "click") map.dragging.enable(); else map.dragging.disable();
        map.getContainer().classList.toggle("wg-drawing", st.mode !== "click");
      };
    });
    map.boxZoom.disable();
    map.on("mousedown", function (e) {
      if (st.mode === "click") return;
      drawing = { points: [e.latlng], add: e.originalEvent.shiftKey, shape: null };
      drawing.shape = st.mode === "box"
        ? L.rectangle(L.latLngBounds(e.latlng, e.latlng), { color: "#d50000", weight: 1, dashArray: "4 3", fill: false, interactive: false }).addTo(map)
        : L.polyline([e.latlng], { color: "#d50000", weight: 1.5, dashArray: "4 3", interactive: false }).addTo(map);
    });
    map.on("mousemove", function (e) {
      if (!drawing) return;
      if (st.mode === "box") drawing.shape.setBounds(L.latLngBounds(drawing.points[0], e.latlng));
      else { drawing.points.push(e.latlng); drawing.shape.addLatLng(e.latlng); }
      drawing.last = e.latlng;
    });
    map.on("mouseup", function (e) {
      if (!drawing) return;
      var d = drawing;
      drawing = null;
      map.removeLayer(d.shape);
      if (!d.add) clearSelection();
      var test;
      if (st.mode === "box") {
        var b = L.latLngBounds(d.points[0], e.latlng);
        test = function (c) { return b.contains(L.latLng(c[1], c[0])); };
      } else {
        d.points.push(e.latlng);
        var ring = d.points.map(function (p) { return [p.lng, p.lat]; });
        test = function (c) { return inside(c, ring); };
      }
      if (footprints) {
        footprints.ids.forEach(function (id, i) { if (test(footprints.centre(i))) toggle(id, true); });
      }
      showSelection();
    });

    E.state = st;  // for tests and the console
    E.grids = function () { return grids; };
    E.select = function (ids, add) {
      if (!add) clearSelection();
      ids.forEach(function (id) { toggle(id, true); });
      showSelection();
    };
    E.centre = function (id) {
      var i = footprints ? footprints.index[id] : undefined;
      return i === undefined ? undefined : footprints.centre(i);
    };

    showSelection();
    var footprintsData = started("footprints", opts.footprintsUrl).then(function (r) { return r.json(); });
    Promise.all([loadState(), reloadPolygons(), footprintsData]).then(function (all) {
      drawBuildings(all[2]);
      // ready once the canvas has been drawn: Leaflet draws it on the next animation frame,
      // before this callback (asked for after it)
      L.Util.requestAnimFrame(function () {
        mark("wg-editor-drawn");
        var container = map.getContainer();
        container.dataset.wgEditorReadyMs = String(Math.round(performance.now()));
        container.dataset.wgEditorReady = "1";
        map.fire("wgeditorready");
      });
    }, function (err) {
      message("error", String(err), String(err));
      map.fire("wgeditorready");
    });
  };
})();
