// The supervision dashboard's charts (templates/admin/supervision/dashboard.html). A file, not an
// inline script: the Content-Security-Policy allows scripts from the site's own files only.
// The data comes from the page's json_script "dashboard-data"; the series' names (translated) from
// the data-labels of #dashboard-labels.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const labels = document.getElementById("dashboard-labels").dataset;
  const chart = (id, type, names, datasets, extra) => new Chart(document.getElementById(id), {
    type: type, data: {labels: names, datasets: datasets}, options: Object.assign({responsive: true}, extra || {})
  });
  // One series per fund that pays on a settlement (claims.funds), then the personal account.
  chart("chart-spending-month", "bar", data.spending_by_month.labels, [
    ...data.spending_by_month.funds.map((fund) => ({label: fund.label, data: fund.data})),
    {label: labels.personalAccount, data: data.spending_by_month.account}
  ]);
  chart("chart-spending-level", "pie", data.spending_by_level.labels, [
    {label: labels.allFunds, data: data.spending_by_level.fund}
  ]);
  chart("chart-spending-benefit", "pie", data.spending_by_benefit.labels, [
    {label: labels.pooledFund, data: data.spending_by_benefit.fund}
  ]);
  chart("chart-flags-rule", "bar", data.flags_by_rule.labels, [
    {label: labels.flags, data: data.flags_by_rule.counts}
  ], {indexAxis: "y"});
  chart("chart-flags-month", "line", data.flags_by_month.labels, [
    {label: labels.flags, data: data.flags_by_month.counts}
  ]);
  chart("chart-cost-per-visit", "bar", data.top_cost_per_visit.labels, [
    {label: labels.costPerVisit, data: data.top_cost_per_visit.values}
  ], {indexAxis: "y"});
  chart("chart-violations", "bar", data.top_violations.labels, [
    {label: labels.confirmedViolations, data: data.top_violations.counts}
  ], {indexAxis: "y"});
})();
