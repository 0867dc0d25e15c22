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

  E.start = function (map, opts, gridsData, buildingsData) {
    var T = opts.text;
    var st = {
      version: null, stats: {}, order: [], summary: null, gridOf: {}, hh: {},
      selected: {}, fault: {}, faultGrids: {}, mode: "click", busy: false,
    };
    var canvas = L.canvas({ padding: 0.3 });
    var gridGroup = L.layerGroup().addTo(map);
    var gridLayers = {};
    var buildingLayers = {};
    var centres = {};

    function devColor(d) {
      if (d === null || d === undefined) return "#cccccc";
      for (var i = 0; i < opts.breaks.length; i++) if (d <= opts.breaks[i]) return opts.colors[i];
      return opts.colors[opts.colors.length - 1];
    }

    function gridStyle(code) {
      var s = st.stats[code];
      var f = st.faultGrids[code];
      return {
        renderer: canvas, color: f ? "#ff6f00" : s && s.locked ? "#000" : "#37474f",
        weight: f ? 3 : s && s.locked ? 2.5 : 1.2, dashArray: s && s.locked ? "6 4" : null,
        fillColor: devColor(s ? s.deviation_pct : null), fillOpacity: 0.45,
      };
    }

    function buildingStyle(id) {
      var g = st.gridOf[id];
      if (st.fault[id]) return { renderer: canvas, color: "#ff6f00", weight: 3, fillColor: "#ffcc80", fillOpacity: 0.9 };
      if (st.selected[id]) return { renderer: canvas, color: "#d50000", weight: 2.5, fillColor: "#ff8a80", fillOpacity: 0.9 };
      return { renderer: canvas, color: g ? hashColor(g) : "#8d8d8d", weight: 1, fillColor: g ? hashColor(g) : "#bdbdbd", fillOpacity: 0.55 };
    }

    function addGrid(feature) {
      var code = feature.properties.code;
      if (gridLayers[code]) gridGroup.removeLayer(gridLayers[code]);
      var layer = L.geoJSON(feature, { style: function () { return gridStyle(code); }, renderer: canvas });
      layer.on("click", function (e) {
        if (st.mode !== "click") return;
        targetSelect.value = code;
        gridSelect.value = code;
      });
      layer.bindTooltip(function () { return tip(code); }, { sticky: true });
      gridLayers[code] = layer;
      gridGroup.addLayer(layer);
      layer.bringToBack();
    }

    function tip(code) {
      var s = st.stats[code];
      if (!s) return esc(code);
      return "<b>" + esc(code) + "</b><br>" + s.households + " " + esc(T.households) + " · " +
        (s.deviation_pct > 0 ? "+" : "") + s.deviation_pct.toFixed(1) + "%" +
        (s.worker ? "<br>" + esc(s.worker) : "");
    }

    (gridsData.features || []).forEach(addGrid);

    /* A footprint's centre (the mean of its outer ring), [lng, lat]: box and lasso test it. */
    function centreOf(geometry) {
      var ring = geometry.type === "MultiPolygon" ? geometry.coordinates[0][0] : geometry.coordinates[0];
      var x = 0, y = 0, n = Math.max(1, ring.length - 1);
      for (var i = 0; i < n; i++) { x += ring[i][0]; y += ring[i][1]; }
      return [x / n, y / n];
    }
    var buildingsLayer = null;
    /* Drawn once the draft's state has come (each building in its grid's colour). */
    function drawBuildings() {
      buildingsLayer = L.geoJSON(buildingsData, {
        renderer: canvas,
        style: function (f) { return buildingStyle(f.properties.building_id); },
        onEachFeature: function (f, layer) {
          var id = f.properties.building_id;
          buildingLayers[id] = layer;
          st.hh[id] = f.properties.households || 0;
          centres[id] = centreOf(f.geometry);
        },
      }).addTo(map);
      buildingsLayer.on("click", function (e) {
        if (st.mode !== "click") return;
        L.DomEvent.stopPropagation(e);
        var id = e.layer.feature.properties.building_id;
        var o = e.originalEvent;
        var add = o && (o.shiftKey || o.ctrlKey || o.metaKey);
        if (!add) clearSelection();
        toggle(id, add ? !st.selected[id] : true);
        showSelection();
      });
      buildingsLayer.bindTooltip(function (layer) {
        var id = layer.feature.properties.building_id;
        return esc(id) + " · " + st.hh[id] + " " + esc(T.households) + " · " + esc(st.gridOf[id] || "");
      }, { sticky: true });
    }

    function restyle(id) {
      var layer = buildingLayers[id];
      if (layer) layer.setStyle(buildingStyle(id));
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
      var ids = Object.keys(st.fault), grids = Object.keys(st.faultGrids);
      st.fault = {}; st.faultGrids = {};
      ids.forEach(restyle);
      grids.forEach(function (g) { if (gridLayers[g]) gridLayers[g].setStyle(gridStyle(g)); });
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

    function request(method, path, body) {
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
        if (buildingsLayer) changed.forEach(restyle);
        Object.keys(gridLayers).forEach(function (code) {
          if (!st.stats[code]) { gridGroup.removeLayer(gridLayers[code]); delete gridLayers[code]; }
          else gridLayers[code].setStyle(gridStyle(code));
        });
        renderSummary();
        renderTable();
        buttons(s.can_undo, s.can_redo);
        return s;
      });
    }

    function reloadPolygons() {
      return fetch(opts.gridsUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        .then(function (fc) {
          (fc.features || []).forEach(function (f) {
            addGrid({ type: "Feature", properties: { code: f.properties.code }, geometry: f.geometry });
          });
        });
    }

    /* An edit's answer: buildings regrouped, grids redrawn, every deviation recoloured. */
    function applyAnswer(out) {
      st.version = out.version;
      st.summary = out.summary;
      out.changes.forEach(function (c) { st.gridOf[c.building_id] = c.to_grid; });
      out.removed.forEach(function (code) {
        delete st.stats[code];
        if (gridLayers[code]) { gridGroup.removeLayer(gridLayers[code]); delete gridLayers[code]; }
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
        if (g.geometry) addGrid({ type: "Feature", properties: { code: g.code }, geometry: g.geometry });
      });
      Object.keys(gridLayers).forEach(function (code) { gridLayers[code].setStyle(gridStyle(code)); });
      clearSelection();
      out.changes.forEach(function (c) {
        restyle(c.building_id);
        if (buildingLayers[c.building_id]) buildingLayers[c.building_id].closeTooltip();
      });
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
      (d.grids || []).forEach(function (g) {
        st.faultGrids[g] = true;
        if (gridLayers[g]) gridLayers[g].setStyle(gridStyle(g));
      });
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
      var layer = gridLayers[row.dataset.code];
      if (layer) map.fitBounds(layer.getBounds(), { maxZoom: 18, animate: false });
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
      Object.keys(centres).forEach(function (id) { if (test(centres[id])) toggle(id, true); });
      showSelection();
    });

    E.state = st;  // for tests and the console
    E.select = function (ids, add) {
      if (!add) clearSelection();
      ids.forEach(function (id) { toggle(id, true); });
      showSelection();
    };
    E.centre = function (id) { return centres[id]; };

    showSelection();
    Promise.all([loadState(), reloadPolygons()]).then(function () {
      drawBuildings();
      Object.keys(gridLayers).forEach(function (code) { gridLayers[code].setStyle(gridStyle(code)); });
      var container = map.getContainer();
      container.dataset.wgEditorReadyMs = String(Math.round(performance.now()));
      container.dataset.wgEditorReady = "1";
    });
  };
})();
