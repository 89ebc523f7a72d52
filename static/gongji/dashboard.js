// The supervision dashboard's charts (templates/admin/supervision/dashboard.html). A file, not an
// inline script: the Content-Security-Policy allows scripts from the site's own files only.
// The data comes from the page's json_script "dashboard-data"; the series' names (translated) from
// the data-labels of #dashboard-labels. A chart is drawn only where the page put its canvas: a
// chart with no data, or a pie of one slice, is text on the page instead (supervision.dashboard).
// Clicking a bar (or a slice) opens the admin list behind it: the same links as the table under
// each chart.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const labels = document.getElementById("dashboard-labels").dataset;
  // Counts are whole numbers: no 0.5 flags on an axis.
  const countAxis = {beginAtZero: true, ticks: {precision: 0}};
  const chart = (key, type, datasets, extra) => {
    const canvas = document.getElementById("chart-" + key);
    if (!canvas) return null;
    const links = data[key].links || [];
    return new Chart(canvas, {
      type: type,
      data: {labels: data[key].labels, datasets: datasets},
      options: Object.assign({
        responsive: true,
        onClick: (event, elements) => {
          if (elements.length && links[elements[0].index]) window.location.assign(links[elements[0].index]);
        },
        onHover: (event, elements) => {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        }
      }, extra || {})
    });
  };
  // One series per fund that pays on a settlement (claims.funds), then the personal account.
  chart("spending_by_month", "bar", [
    ...data.spending_by_month.funds.map((fund) => ({label: fund.label, data: fund.data})),
    {label: labels.personalAccount, data: data.spending_by_month.account}
  ], {scales: {y: {beginAtZero: true}}});
  chart("spending_by_level", "bar", [
    {label: labels.allFunds, data: data.spending_by_level.fund}
  ], {scales: {y: {beginAtZero: true}}});
  chart("spending_by_benefit", "pie", [
    {label: labels.pooledFund, data: data.spending_by_benefit.fund}
  ]);
  chart("flags_by_rule", "bar", [
    {label: labels.flags, data: data.flags_by_rule.counts}
  ], {indexAxis: "y", scales: {x: countAxis}});
  chart("flags_by_month", "bar", [
    {label: labels.flags, data: data.flags_by_month.counts}
  ], {scales: {y: countAxis}});
  chart("top_cost_per_visit", "bar", [
    {label: labels.costPerVisit, data: data.top_cost_per_visit.values}
  ], {indexAxis: "y", scales: {x: {beginAtZero: true}}});
  chart("top_violations", "bar", [
    {label: labels.confirmedViolations, data: data.top_violations.counts}
  ], {indexAxis: "y", scales: {x: countAxis}});
})();
