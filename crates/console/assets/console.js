// The operators' console. Plain JavaScript with no build step and nothing
// fetched from elsewhere: it calls the gateway's operations service as JSON
// (/api/ops/<Method>, the proto3 JSON mapping) and follows alerts as
// server-sent events (/api/alerts). Every value from the gateway is put in
// the page as text, never as markup.
'use strict';

const TEXT = {
  en: {
    title: 'Mediation gateway', readOnly: 'read-only', logout: 'Log out',
    loginTitle: 'Operator login',
    loginHelp: "Paste a bearer token issued to you by the operators' issuer. It is exchanged for a session and not kept.",
    login: 'Log in', tabBreaches: 'Breaches', tabReferral: 'Referrals', tabDelivery: 'Delivery',
    tabFigures: 'Figures', tabAudit: 'Audit trail', tenant: 'Tenant', subject: 'Subject',
    method: 'Method', seq: 'No.', when: 'When', actor: 'Who', action: 'What', outcome: 'Outcome',
    detailPurged: '(detail purged under the retention policy)',
    more: 'More', openBreaches: 'Open breaches and warnings', kind: 'Kind',
    referral: 'Referral', organisation: 'Organisation', status: 'Status', deadline: 'Deadline',
    overdue: 'Overdue', raised: 'Raised', acknowledge: 'Acknowledge', noBreaches: 'Nothing open.',
    recentAlerts: 'Alerts as they are raised', searchHelp: "Gateway id, court's reference or case number",
    search: 'Search', deadlines: 'Deadlines', dueDate: 'Due date', dueAt: 'Due at', events: 'Events',
    waiting: 'Deliveries waiting', destination: 'Destination', event: 'Event', attempts: 'Attempts',
    nextAttempt: 'Next attempt', lastError: 'Last error', referralAlerts: 'Alerts',
    backlog: 'Backlog per destination', health: 'Health', pending: 'Waiting', dead: 'Dead letters',
    oldest: 'Oldest', failures: 'Failures in a row', deadLetters: 'Dead letters', deadAt: 'Set aside',
    replay: 'Replay', noDeadLetters: 'No dead letters.', from: 'From', to: 'To', partner: 'Partner',
    allPartners: 'All', partnerLabour: 'Labour arbitration', partnerTraffic: 'Road traffic', show: 'Show',
    byPartner: 'By partner', byOrganisation: 'By organisation', byMediator: 'By mediator',
    advanceBy: 'Move the sandbox clock by', advance: 'Move', note: 'note', ack: 'Acknowledge',
    acked: 'Acknowledged by {by}', replayed: 'Replayed: it is waiting for delivery again.',
    reachable: 'reachable', unreachable: 'unreachable', live: 'live', reconnecting: 'reconnecting',
    dueIn: 'due in {d}', sandbox: 'sandbox clock', court: 'Court', courtReference: "Court's reference",
    caseNumber: 'Case number', noMatch: 'No referral matches.', moved: 'The clock moved; {n} timers fired.',
    referrals: 'Referrals', accepted: 'Accepted', declined: 'Declined', agreements: 'Agreements',
    failuresShort: 'Failures', successRate: 'Success rate', medianAccept: 'Median time to accept',
    medianMediation: 'Median mediation', acceptanceBreaches: 'Acceptance breaches',
    mediationBreaches: 'Mediation breaches', chartSuccess: 'Success rate by organisation (%)',
    chartAccept: 'Median time to accept (hours)', chartMediation: 'Median mediation duration (days)',
    chartBreaches: 'Breaches by organisation', mediator: 'Mediator', nothing: 'Nothing in this period.',
    provisional: 'provisional', sessionEnded: 'The session has ended; log in again.',
    noData: 'No data', mediatorNote: "A mediator's figures start at acceptance: offers and declines count for the organisation.",
    'kind.acceptance_warning': 'Acceptance warning', 'kind.acceptance_breach': 'Acceptance breach',
    'kind.mediation_warning': 'Mediation warning', 'kind.mediation_breach': 'Mediation breach',
    'kind.dead_letter': 'Dead letter', 'kind.calendar_year_missing': 'Calendar year missing',
    'kind.destination_unreachable': 'Destination unreachable',
    'kind.sham_mediation_reported': 'Sham mediation reported',
    'kind.appraisal_overlong': 'Appraisal overlong', 'kind.arbitration_available': 'Arbitration available', 'kind.court_decision_overdue': 'Court decision overdue',
    'status.received': 'Received', 'status.awaiting_acceptance': 'Awaiting acceptance',
    'status.declined': 'Declined', 'status.acceptance_overdue': 'Acceptance overdue',
    'status.in_mediation': 'In mediation', 'status.suspended_for_appraisal': 'Suspended for appraisal',
    'status.mediation_overdue': 'Mediation overdue', 'status.agreed': 'Agreement reached',
    'status.confirmation_requested': 'Confirmation requested', 'status.confirmed': 'Confirmed',
    'status.confirmation_refused': 'Confirmation refused', 'status.mediation_failed': 'Mediation failed',
    'status.sham_mediation_reported': 'Sham mediation reported', 'status.returned_to_court': 'Returned to court',
    'status.recalled': 'Recalled by the court', 'status.concluded': 'Concluded',
  },
  zh: {
    title: '诉调对接网关', readOnly: '只读', logout: '退出',
    loginTitle: '运维人员登录', loginHelp: '粘贴运维签发方发给您的令牌。令牌只用于换取会话，不会保存。',
    login: '登录', tabBreaches: '超期', tabReferral: '委派案件', tabDelivery: '投递', tabFigures: '统计',
    tabAudit: '审计记录', tenant: '租户', subject: '主体', method: '方法', seq: '序号', when: '时间',
    actor: '调用方', action: '操作', outcome: '结果', more: '更多',
    detailPurged: '（详情已按保存期限删除）',
    openBreaches: '未处理的超期与预警', kind: '类型', referral: '委派案件', organisation: '调解组织',
    status: '状态', deadline: '期限', overdue: '已超期', raised: '发出时间', acknowledge: '确认',
    noBreaches: '没有未处理的告警。', recentAlerts: '实时告警', searchHelp: '网关编号、法院委派编号或案号',
    search: '查询', deadlines: '期限', dueDate: '届满日', dueAt: '届满时刻', events: '事件',
    waiting: '待投递消息', destination: '投递目标', event: '事件', attempts: '尝试次数',
    nextAttempt: '下次尝试', lastError: '最近错误', referralAlerts: '告警', backlog: '各投递目标的积压',
    health: '状态', pending: '待投递', dead: '死信', oldest: '最早', failures: '连续失败',
    deadLetters: '死信', deadAt: '搁置时间', replay: '重新投递', noDeadLetters: '没有死信。', from: '自',
    to: '至', partner: '合作平台', allPartners: '全部', partnerLabour: '劳动人事争议仲裁',
    partnerTraffic: '道路交通事故', show: '查看', byPartner: '按平台', byOrganisation: '按调解组织',
    byMediator: '按调解员', advanceBy: '沙箱时钟前移', advance: '前移', note: '备注', ack: '确认',
    acked: '已由 {by} 确认', replayed: '已重新排队投递。', reachable: '正常', unreachable: '不可达',
    live: '实时', reconnecting: '重新连接中', dueIn: '{d} 后届满', sandbox: '沙箱时钟', court: '法院',
    courtReference: '法院委派编号', caseNumber: '案号', noMatch: '没有匹配的委派案件。',
    moved: '时钟已前移，触发 {n} 个计时器。', referrals: '分派数', accepted: '受理', declined: '不予受理',
    agreements: '调解成功', failuresShort: '调解不成', successRate: '调解成功率',
    medianAccept: '受理用时中位数', medianMediation: '调解用时中位数', acceptanceBreaches: '受理超期',
    mediationBreaches: '调解超期', chartSuccess: '各调解组织调解成功率（%）',
    chartAccept: '受理用时中位数（小时）', chartMediation: '调解用时中位数（天）',
    chartBreaches: '各调解组织超期数', mediator: '调解员', nothing: '该期间没有数据。', provisional: '暂定',
    sessionEnded: '会话已结束，请重新登录。', noData: '暂无数据',
    mediatorNote: '调解员的统计自受理起算：分派和不予受理计入调解组织。',
    'kind.acceptance_warning': '受理预警', 'kind.acceptance_breach': '受理超期',
    'kind.mediation_warning': '调解期限预警', 'kind.mediation_breach': '调解超期',
    'kind.dead_letter': '死信', 'kind.calendar_year_missing': '缺少年度节假日安排',
    'kind.destination_unreachable': '投递目标不可达', 'kind.sham_mediation_reported': '虚假调解报告',
    'kind.appraisal_overlong': '鉴定超时', 'kind.arbitration_available': '可申请仲裁', 'kind.court_decision_overdue': '法院逾期未决定',
    'status.received': '已接收', 'status.awaiting_acceptance': '待受理', 'status.declined': '不予受理',
    'status.acceptance_overdue': '受理超期', 'status.in_mediation': '调解中',
    'status.suspended_for_appraisal': '鉴定评估中止', 'status.mediation_overdue': '调解超期',
    'status.agreed': '达成调解协议', 'status.confirmation_requested': '已申请司法确认',
    'status.confirmed': '已司法确认', 'status.confirmation_refused': '司法确认被驳回',
    'status.mediation_failed': '调解不成', 'status.sham_mediation_reported': '已报告虚假调解',
    'status.returned_to_court': '退回法院', 'status.recalled': '法院已撤回', 'status.concluded': '已结案',
  },
};

let lang = localStorage.getItem('mg-lang') ||
  ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');

function t(key, vars) {
  let text = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
  for (const [name, value] of Object.entries(vars || {})) {
    // Split and join rather than replace: a replacement string would expand
    // $&, $` and $' in a name, and the value is shown as given.
    text = text.split('{' + name + '}').join(String(value));
  }
  return text;
}

// A referral's status (Status::as_str) in the page's language; a status
// this page does not know is shown as the gateway named it.
function statusText(code) {
  if (!code) return '—';
  const key = 'status.' + code;
  return (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || code;
}

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function applyLanguage() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('title');
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-placeholder]')) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  $('#lang').textContent = lang === 'zh' ? 'English' : '中文';
}

// ---- talking to the gateway ----------------------------------------------

const state = {
  session: null,
  alerts: new Map(),
  breaches: [],
  clock: null,
  clockRead: 0,
  feed: null,
  referral: null,
  figures: null,
};

class Refusal extends Error {
  constructor(status, body) {
    super(body.message || ('HTTP ' + status));
    this.status = status;
    this.code = body.code;
    this.fields = body.fields || [];
  }
}

async function post(path, body) {
  const headers = { 'content-type': 'application/json' };
  if (state.session) headers['x-csrf-token'] = state.session.csrf;
  const response = await fetch(path, {
    method: 'POST', headers, body: JSON.stringify(body || {}), credentials: 'same-origin',
  });
  if (response.status === 204) return null;
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && state.session) sessionEnded();
    throw new Refusal(response.status, json);
  }
  return json;
}

const ops = (method, body) => post('/api/ops/' + method, body);

function notify(message, isError) {
  const notice = $('#notice');
  notice.textContent = message;
  notice.className = isError ? 'error' : '';
  notice.hidden = false;
}

function explain(error) {
  const fields = (error.fields || []).map((f) => f.field + ': ' + f.description).join('; ');
  return (error.code ? error.code + ': ' : '') + error.message + (fields ? ' (' + fields + ')' : '');
}

// ---- formatting ----------------------------------------------------------

// Days are counted in China Standard Time (docs/domain.md), so times are
// shown there too.
const shown = () => new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', hour12: false,
});

function when(timestamp) {
  return timestamp ? shown().format(new Date(timestamp)) : '—';
}

function kindOf(alert) {
  return String(alert.kind || '').replace(/^ALERT_KIND_/, '').toLowerCase();
}

function seconds(duration) {
  return duration ? parseFloat(String(duration).replace(/s$/, '')) : null;
}

function span(ms) {
  const minutes = Math.floor(Math.abs(ms) / 60000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (lang === 'zh') return (days ? days + '天' : '') + hours + '小时' + (days ? '' : rest + '分');
  return (days ? days + 'd ' : '') + hours + 'h' + (days ? '' : ' ' + rest + 'm');
}

// The gateway's time now: a sandbox's clock may run ahead of real time.
function gatewayNow() {
  if (!state.clock) return Date.now();
  const speed = state.clock.speed || 1;
  return Date.parse(state.clock.now) + (Date.now() - state.clockRead) * speed;
}

// ---- session -------------------------------------------------------------

async function start() {
  applyLanguage();
  const response = await fetch('/api/session', { credentials: 'same-origin' });
  if (response.ok) {
    showApp(await response.json());
  } else {
    showLogin();
  }
}

function showLogin() {
  state.session = null;
  if (state.feed) state.feed.close();
  state.feed = null;
  for (const id of ['#app-view', '#who', '#logout', '#read-only-badge', '#live', '#clock']) $(id).hidden = true;
  $('#login-view').hidden = false;
}

function sessionEnded() {
  showLogin();
  notify(t('sessionEnded'), true);
}

function showApp(session) {
  state.session = session;
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#who').textContent = session.operator + ' · ' + session.tenant;
  $('#who').hidden = false;
  $('#logout').hidden = false;
  $('#read-only-badge').hidden = !session.readOnly;
  document.body.classList.toggle('read-only', !!session.readOnly);
  showTab('breaches');
  follow();
  refreshClock();
  refreshBreaches();
  refreshDelivery();
}

$('#login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('#login-error');
  error.hidden = true;
  try {
    const session = await post('/api/login', { token: $('#token').value.trim() });
    $('#token').value = '';
    $('#notice').hidden = true;
    showApp(session);
  } catch (e) {
    error.textContent = explain(e);
    error.hidden = false;
  }
});

$('#logout').addEventListener('click', async () => {
  try { await post('/api/logout', {}); } catch (e) { /* the session is gone either way */ }
  showLogin();
});

$('#lang').addEventListener('click', () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('mg-lang', lang);
  applyLanguage();
  renderBreaches();
  renderAlertLog();
  const live = $('#live');
  if (live.className) live.textContent = t(live.className === 'on' ? 'live' : 'reconnecting');
  if (state.session) refreshClock();
  if (state.referral) renderTimeline(state.referral);
  if (state.figures) renderFigures(state.figures);
});

function showTab(name) {
  $('#notice').hidden = true;
  for (const tab of document.querySelectorAll('.tab')) {
    tab.classList.toggle('active', tab.dataset.tab === name);
  }
  for (const panel of document.querySelectorAll('.panel')) panel.hidden = panel.id !== 'tab-' + name;
  if (name === 'delivery') refreshDelivery();
  if (name === 'figures' && !$('#figures-from').value) defaultPeriod();
}

for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => showTab(tab.dataset.tab));
}

// ---- live alerts ---------------------------------------------------------

function follow() {
  if (state.feed) state.feed.close();
  const feed = new EventSource('/api/alerts?after=0');
  state.feed = feed;
  const live = $('#live');
  live.hidden = false;
  feed.onopen = () => { live.className = 'on'; live.textContent = t('live'); };
  feed.onerror = () => { live.className = 'off'; live.textContent = t('reconnecting'); };
  feed.addEventListener('alert', (event) => {
    const alert = JSON.parse(event.data);
    const known = state.alerts.has(alert.seq);
    state.alerts.set(alert.seq, alert);
    if (known) return;
    scheduleAlertLog();
    const kind = kindOf(alert);
    if (/_(warning|breach)$/.test(kind)) scheduleBreaches();
    if (kind === 'dead_letter' || kind === 'destination_unreachable') refreshDelivery();
    if (state.referral && alert.referralId === state.referral.referralId) renderTimeline(state.referral);
  });
  feed.addEventListener('refusal', (event) => {
    const body = JSON.parse(event.data);
    if (body.code === 'UNAUTHENTICATED') sessionEnded();
    else notify(body.code + ': ' + body.message, true);
  });
}

// A burst of alerts (the feed's first page) redraws once.
let breachesTimer = null;
function scheduleBreaches() {
  clearTimeout(breachesTimer);
  breachesTimer = setTimeout(refreshBreaches, 150);
}
let logTimer = null;
function scheduleAlertLog() {
  clearTimeout(logTimer);
  logTimer = setTimeout(renderAlertLog, 100);
}

function renderAlertLog() {
  const list = $('#alert-log');
  const alerts = [...state.alerts.values()].sort((a, b) => Number(b.seq) - Number(a.seq)).slice(0, 50);
  list.replaceChildren(...alerts.map((alert) => el('li', { 'data-seq': alert.seq },
    el('span', { class: 'when' }, when(alert.raisedAt)),
    t('kind.' + kindOf(alert)), ' ',
    alert.referralId ? referralLink(alert.referralId) : '',
    alert.detail ? ' — ' + alert.detail : '',
    alert.acknowledgement ? ' · ' + t('acked', { by: alert.acknowledgement.by }) : '')));
}

// ---- breaches ------------------------------------------------------------

let seenBreaches = new Set();
// Notes being typed, by alert: a redraw (a new alert, the clock) keeps them.
const notes = new Map();

async function refreshBreaches() {
  // A sandbox's clock may have been moved: what is overdue depends on it.
  await refreshClock();
  try {
    const response = await ops('ListOpenBreaches', { includeWarnings: true });
    state.breaches = response.breaches || [];
    renderBreaches();
  } catch (e) {
    notify(explain(e), true);
  }
}

function renderBreaches() {
  const now = gatewayNow();
  const rows = [...state.breaches]
    .sort((a, b) => Number(b.alert.seq) - Number(a.alert.seq))
    .map((breach) => {
      const alert = breach.alert;
      const kind = kindOf(alert);
      const due = alert.dueAt ? Date.parse(alert.dueAt) : null;
      let overdue = '—';
      if (due !== null) {
        overdue = now >= due ? el('span', { class: 'overdue' }, span(now - due)) : t('dueIn', { d: span(due - now) });
      }
      const note = el('input', { class: 'ack-note', placeholder: t('note'), maxlength: 2000 });
      note.value = notes.get(alert.seq) || '';
      note.addEventListener('input', () => notes.set(alert.seq, note.value));
      const button = el('button', { type: 'button', class: 'ack' }, t('ack'));
      button.addEventListener('click', () => acknowledge(alert.seq, note.value, button));
      const fresh = !seenBreaches.has(alert.seq);
      return el('tr', {
        'data-seq': alert.seq, 'data-kind': kind,
        class: (kind.endsWith('breach') ? 'critical' : 'warning') + (fresh ? ' fresh' : ''),
      },
      el('td', {}, t('kind.' + kind)),
      el('td', {}, alert.referralId ? referralLink(alert.referralId) : '—'),
      el('td', {}, breach.organisation || '—'),
      el('td', { class: 'status' }, statusText(breach.referralStatus)),
      el('td', {}, when(alert.dueAt)),
      el('td', { class: 'overdue-cell' }, overdue),
      el('td', {}, when(alert.raisedAt)),
      el('td', { class: 'acting' }, note, ' ', button));
    });
  seenBreaches = new Set(state.breaches.map((b) => b.alert.seq));
  $('#breaches tbody').replaceChildren(...rows);
  $('#no-breaches').hidden = rows.length > 0;
}

async function acknowledge(seq, note, button) {
  button.disabled = true;
  try {
    const response = await ops('AcknowledgeAlert', { seq, note });
    const ack = response.alert && response.alert.acknowledgement;
    notify(t('acked', { by: ack ? ack.by : '' }) + (ack && ack.note ? ' — ' + ack.note : ''));
    notes.delete(seq);
    state.alerts.set(response.alert.seq, response.alert);
    renderAlertLog();
    await refreshBreaches();
  } catch (e) {
    notify(explain(e), true);
    button.disabled = false;
  }
}

// Open breaches tick on as the gateway's clock runs.
setInterval(() => { if (state.session && state.breaches.length) renderBreaches(); }, 30000);

// ---- the sandbox's clock -------------------------------------------------

async function refreshClock() {
  try {
    state.clock = await ops('GetClock', {});
    state.clockRead = Date.now();
    const clock = $('#clock');
    clock.hidden = false;
    clock.className = state.clock.movable ? 'sandbox' : '';
    clock.textContent = (state.clock.movable ? t('sandbox') + ' ' : '') + when(state.clock.now);
    $('#advance-form').hidden = !state.clock.movable;
  } catch (e) {
    $('#clock').hidden = true;
  }
}
setInterval(() => { if (state.session) refreshClock(); }, 60000);

$('#advance-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const match = /^(\d+)([dhm])$/.exec($('#advance').value.trim());
  if (!match) return;
  const unit = { d: 86400, h: 3600, m: 60 }[match[2]];
  try {
    const moved = await ops('AdvanceClock', { by: Number(match[1]) * unit + 's' });
    notify(t('moved', { n: moved.timersFired || 0 }));
    state.clock = moved;
    state.clockRead = Date.now();
    await refreshClock();
    renderBreaches();
  } catch (e) {
    notify(explain(e), true);
  }
});

// ---- a referral ----------------------------------------------------------

function referralLink(id) {
  return el('a', { class: 'referral-link', 'data-referral': id, onclick: () => openReferral(id) }, id);
}

async function openReferral(id) {
  showTab('referral');
  $('#search').value = id;
  $('#search-results').replaceChildren();
  try {
    renderTimeline(await ops('GetReferralTimeline', { referralId: id }));
  } catch (e) {
    notify(explain(e), true);
  }
}

$('#search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const query = $('#search').value.trim();
  const results = $('#search-results');
  results.replaceChildren();
  $('#timeline').hidden = true;
  state.referral = null;
  try {
    if (/^[0-9A-HJKMNP-TV-Z]{26}$/i.test(query)) {
      await openReferral(query.toUpperCase());
      return;
    }
    let found = (await ops('FindReferrals', { courtReferralId: query })).referrals || [];
    if (!found.length) found = (await ops('FindReferrals', { caseNumber: query })).referrals || [];
    if (found.length === 1) {
      await openReferral(found[0].referralId);
      return;
    }
    if (!found.length) {
      results.append(el('li', { class: 'empty' }, t('noMatch')));
      return;
    }
    results.replaceChildren(...found.map((r) => el('li', {}, referralLink(r.referralId), ' · ',
      r.courtReferralId || '', ' · ', r.caseNumber || '', ' · ', r.status ? statusText(r.status) : '', ' · ',
      r.organisation || '')));
  } catch (e) {
    notify(explain(e), true);
  }
});

function renderTimeline(referral) {
  state.referral = referral;
  $('#timeline').hidden = false;
  $('#timeline-title').textContent = referral.referralId;
  const facts = [
    [t('status'), statusText(referral.status)], [t('court'), referral.court],
    [t('courtReference'), referral.courtReferralId], [t('partner'), referral.partner],
    [t('organisation'), referral.organisation],
  ];
  $('#timeline-facts').replaceChildren(...facts.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value || '—')]));
  $('#timeline-deadlines tbody').replaceChildren(...(referral.deadlines || []).map((d) => el('tr', {},
    el('td', {}, d.kind), el('td', {}, d.dueDate, d.provisional ? ' (' + t('provisional') + ')' : ''),
    el('td', {}, when(d.dueAt)))));
  $('#timeline-events').replaceChildren(...(referral.timeline || []).map((entry) => el('li', { 'data-event': entry.event },
    el('span', { class: 'when' }, when(entry.at)), entry.event, entry.summary ? ' — ' + entry.summary : '')));
  $('#timeline-waiting tbody').replaceChildren(...(referral.waiting || []).map((m) => el('tr', {},
    el('td', {}, m.destination), el('td', {}, m.event), el('td', { class: 'number' }, m.attempts || 0),
    el('td', {}, m.deadAt ? t('dead') : when(m.nextAttemptAt)), el('td', {}, m.lastError || ''))));
  const alerts = [...state.alerts.values()].filter((a) => a.referralId === referral.referralId);
  $('#timeline-alerts').replaceChildren(...alerts.map((alert) => el('li', {},
    el('span', { class: 'when' }, when(alert.raisedAt)), t('kind.' + kindOf(alert)),
    alert.acknowledgement ? ' · ' + t('acked', { by: alert.acknowledgement.by }) : '')));
}

// ---- delivery ------------------------------------------------------------

async function refreshDelivery() {
  try {
    const [backlog, dead] = await Promise.all([ops('GetOutboxBacklog', {}), ops('ListDeadLetters', {})]);
    $('#backlog tbody').replaceChildren(...(backlog.destinations || []).map((d) => el('tr', { 'data-destination': d.destination },
      el('td', {}, d.destination),
      el('td', { class: d.unreachable ? 'unreachable' : 'healthy' }, t(d.unreachable ? 'unreachable' : 'reachable')),
      el('td', { class: 'number' }, d.pending || 0), el('td', { class: 'number' }, d.dead || 0),
      el('td', {}, when(d.oldestEnqueuedAt)), el('td', { class: 'number' }, d.consecutiveFailures || 0),
      el('td', {}, d.lastError || ''))));
    const letters = dead.deadLetters || [];
    $('#dead-letters tbody').replaceChildren(...letters.map((m) => {
      const button = el('button', { type: 'button', class: 'replay' }, t('replay'));
      button.addEventListener('click', () => replay(m.messageId, button));
      return el('tr', { 'data-message': m.messageId },
        el('td', {}, m.destination), el('td', {}, m.referralId ? referralLink(m.referralId) : '—'),
        el('td', {}, m.event), el('td', { class: 'number' }, m.attempts || 0), el('td', {}, when(m.deadAt)),
        el('td', {}, m.lastError || ''), el('td', { class: 'acting' }, button));
    }));
    $('#no-dead-letters').hidden = letters.length > 0;
  } catch (e) {
    notify(explain(e), true);
  }
}

async function replay(messageId, button) {
  button.disabled = true;
  try {
    await ops('ReplayDeadLetter', { messageId });
    notify(t('replayed'));
    await refreshDelivery();
  } catch (e) {
    notify(explain(e), true);
    button.disabled = false;
  }
}

// ---- figures -------------------------------------------------------------

// The date of an instant in China Standard Time, as YYYY-MM-DD.
const cstDate = (ms) => new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
}).format(new Date(ms));

// The last 90 days up to and including today, on the gateway's clock.
function defaultPeriod() {
  const now = gatewayNow();
  $('#figures-from').value = cstDate(now - 89 * 86400000);
  $('#figures-to').value = cstDate(now + 86400000);
}

// A date as the start of that day in China Standard Time.
const dayStart = (date) => new Date(date + 'T00:00:00+08:00').toISOString();

$('#figures-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const figures = await ops('GetStatistics', {
      from: dayStart($('#figures-from').value),
      to: dayStart($('#figures-to').value),
      partner: $('#figures-partner').value,
    });
    renderFigures(figures);
  } catch (e) {
    notify(explain(e), true);
  }
});

const COLUMNS = [
  ['referrals', (f) => f.referrals || 0], ['accepted', (f) => f.accepted || 0],
  ['declined', (f) => f.declined || 0], ['agreements', (f) => f.agreements || 0],
  ['failuresShort', (f) => f.failures || 0],
  ['successRate', (f) => (f.successRate === undefined ? '—' : (f.successRate * 100).toFixed(1) + '%')],
  ['medianAccept', (f) => (seconds(f.medianTimeToAccept) === null ? '—' : (seconds(f.medianTimeToAccept) / 3600).toFixed(1) + ' h')],
  ['medianMediation', (f) => (seconds(f.medianMediationDuration) === null ? '—' : (seconds(f.medianMediationDuration) / 86400).toFixed(1) + ' d')],
  ['acceptanceBreaches', (f) => f.acceptanceBreaches || 0], ['mediationBreaches', (f) => f.mediationBreaches || 0],
];

// A mediator's figures start at acceptance: offers, declines and missed
// acceptance deadlines belong to the organisation (GetStatisticsResponse
// .breakdowns), so the mediators' table leaves out what would always read 0.
const MEDIATOR_COLUMNS = COLUMNS.filter(([key]) => !['referrals', 'declined', 'acceptanceBreaches'].includes(key));

function figuresTable(table, heads, rows, columns) {
  const cols = columns || COLUMNS;
  if (!rows.length) {
    table.replaceChildren(el('tr', {}, el('td', { class: 'empty' }, t('nothing'))));
    return;
  }
  table.replaceChildren(
    el('thead', {}, el('tr', {}, ...heads.map((h) => el('th', {}, t(h))), ...cols.map(([key]) => el('th', { class: 'number' }, t(key))))),
    el('tbody', {}, ...rows.map(([names, f]) => el('tr', {}, ...names.map((n) => el('td', {}, n)),
      ...cols.map(([, value]) => el('td', { class: 'number' }, value(f || {})))))));
}

function renderFigures(response) {
  state.figures = response;
  const organisations = response.organisations || [];
  figuresTable($('#figures-partners'), ['partner'], (response.partners || []).map((p) => [[p.partner], p.figures]));
  figuresTable($('#figures-organisations'), ['partner', 'organisation'], organisations.map((o) => [[o.partner, o.organisation], o.figures]));
  // One row per organisation and mediator, named as the roster lists them.
  figuresTable($('#figures-mediators'), ['organisation', 'mediator'], (response.breakdowns || [])
    .filter((b) => b.dimension === 'mediator')
    .map((b) => [[b.organisation || '', b.name ? `${b.value} ${b.name}` : b.value], b.figures]), MEDIATOR_COLUMNS);
  const of = (pick) => organisations.map((o) => [o.organisation, pick(o.figures || {})]).filter(([, v]) => v !== null);
  $('#charts').replaceChildren(
    chart(t('chartSuccess'), of((f) => (f.successRate === undefined ? null : f.successRate * 100)), false),
    chart(t('chartAccept'), of((f) => (seconds(f.medianTimeToAccept) === null ? null : seconds(f.medianTimeToAccept) / 3600)), false),
    chart(t('chartMediation'), of((f) => (seconds(f.medianMediationDuration) === null ? null : seconds(f.medianMediationDuration) / 86400)), false),
    chart(t('chartBreaches'), of((f) => Number(f.acceptanceBreaches || 0) + Number(f.mediationBreaches || 0)), true),
  );
}

// A horizontal bar chart in SVG, one bar per organisation.
function chart(title, values, bad) {
  const ns = 'http://www.w3.org/2000/svg';
  const svgEl = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  if (!values.length) {
    return el('figure', { class: 'chart' }, el('h3', {}, title), el('p', { class: 'empty no-data' }, t('noData')));
  }
  const row = 22;
  const width = 360;
  const label = 130;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${Math.max(1, values.length) * row + 4}`, role: 'img' });
  const max = Math.max(1e-9, ...values.map(([, v]) => v));
  values.forEach(([name, value], i) => {
    const y = i * row + 2;
    svg.append(svgEl('text', { x: 0, y: y + 14 }, name.length > 18 ? name.slice(0, 17) + '…' : name));
    const w = Math.max(1, ((width - label - 50) * value) / max);
    svg.append(svgEl('rect', { x: label, y: y + 3, width: w, height: row - 8, class: bad && value > 0 ? 'bar bad' : 'bar' }));
    svg.append(svgEl('text', { x: label + w + 4, y: y + 14 }, Number.isInteger(value) ? value : value.toFixed(1)));
  });
  return el('figure', { class: 'chart' }, el('h3', {}, title), svg);
}

// ---- audit trail ---------------------------------------------------------

// The start of the day after a date, in China Standard Time.
const nextDayStart = (date) => new Date(Date.parse(date + 'T00:00:00+08:00') + 86400000).toISOString();

// The last query's filters and where its next page starts.
let auditQuery = null;

async function showAudit(more) {
  try {
    const { next, ...filters } = auditQuery;
    const page = await ops('QueryAudit', more ? { ...filters, afterSeq: next } : filters);
    const rows = (page.entries || []).map((e) => el('tr', { 'data-seq': e.seq },
      el('td', { class: 'number' }, e.seq), el('td', {}, when(e.at)), el('td', {}, e.actor),
      el('td', {}, e.action), el('td', {}, e.referralId ? referralLink(e.referralId) : '—'),
      el('td', {}, e.outcome, e.detailPurged ? el('small', { class: 'purged' }, ' ' + t('detailPurged')) : '')));
    if (more) $('#audit-entries tbody').append(...rows);
    else $('#audit-entries tbody').replaceChildren(...rows);
    $('#audit-empty').hidden = $('#audit-entries tbody').children.length > 0;
    auditQuery.next = page.nextAfterSeq;
    $('#audit-more').hidden = page.nextAfterSeq === undefined || page.nextAfterSeq === null;
  } catch (e) {
    notify(explain(e), true);
  }
}

$('#audit-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = (id) => $(id).value.trim() || undefined;
  auditQuery = {
    referralId: value('#audit-referral'), tenant: value('#audit-tenant'),
    subject: value('#audit-subject'), method: value('#audit-method'),
    from: $('#audit-from').value ? dayStart($('#audit-from').value) : undefined,
    // The To day is included: the window ends where the next day starts.
    until: $('#audit-to').value ? nextDayStart($('#audit-to').value) : undefined,
  };
  showAudit(false);
});
$('#audit-more').addEventListener('click', () => showAudit(true));

start();
