"""The help texts, in English and Chinese: screens, glossary, getting-started guides, practice.

Every text is a pair ``(english, chinese)``. Who may open a screen or take an action is NOT
written here: each one names the UI route it uses (method and path), and the help page reads
what that route requires from the app (plus, where the service checks a further permission,
``also``), then the roles that hold it from the permission model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from riskdesk.security.permissions import Permission, Role

Text = tuple[str, str]  # (en, zh-CN)
Route = tuple[str, str]  # (method, path) of a UI route


@dataclass(frozen=True)
class Action:
    """Something a person does on a screen: the route it posts to and what it does."""

    route: Route
    name: Text
    does: Text
    also: Permission | None = None  # a permission the service checks beyond the route's


@dataclass(frozen=True)
class Screen:
    """A screen of the UI and its help page."""

    key: str
    prefixes: tuple[str, ...]  # paths whose header "?" leads here (longest prefix wins)
    title: Text
    summary: Text
    shows: tuple[Text, ...]
    views: tuple[Route, ...]  # the GET routes that draw it
    actions: tuple[Action, ...] = ()
    terms: tuple[str, ...] = ()  # glossary keys worth reading with it
    related: tuple[str, ...] = ()  # other screens' help worth reading with it


A = Action

SCREENS: tuple[Screen, ...] = (
    Screen(
        "home",
        ("/home",),
        ("Home pages", "首页"),
        (
            "Signing in lands each role on its own home: credit managers on the portfolio, "
            "risk analysts on their alert queue, sales on their customers, customer service on "
            "the complaint desk, auditors on the activity of the log, admins on jobs and "
            "deliveries. Without the permission a home needs, / leads to the customer list.",
            "登录后每个角色进入自己的首页：信用经理进入组合看板，风控专员进入自己的告警队列，"
            "销售进入自己的客户，客服进入投诉台，审计进入审计日志的活动概览，管理员进入作业与"
            "投递情况。没有某首页所需权限的用户会被带到客户列表。",
        ),
        (
            (
                "Risk analyst: my alert queue, SLA record, alerts by type and model health.",
                "风控专员：我的告警队列、时效达成情况、按类型的告警以及模型健康度。",
            ),
            (
                "Sales: my customers' limits and exposure, held orders and limit requests.",
                "销售：我的客户的额度与敞口、被冻结的订单和额度申请。",
            ),
            (
                "Customer service: complaints against their SLA, satisfaction and churn risks.",
                "客服：投诉的时效情况、客户满意度和流失风险。",
            ),
            (
                "Auditor: activity, approvals by person and reveals of personal data.",
                "审计：操作活动、按人统计的审批以及个人数据的查看记录。",
            ),
            (
                "Admin: background jobs, e-mail and webhook deliveries, system status.",
                "管理员：后台作业、邮件与回调投递、系统状态。",
            ),
        ),
        (
            ("GET", "/home/analyst"),
            ("GET", "/home/sales"),
            ("GET", "/home/service"),
            ("GET", "/home/auditor"),
            ("GET", "/home/admin"),
        ),
    ),
    Screen(
        "portfolio",
        ("/portfolio",),
        ("Portfolio dashboard", "组合看板"),
        (
            "The credit book at a glance, over the customers you may see (sales: their own), "
            "narrowed by region, segment, owner, risk tier or industry.",
            "一眼看清信用组合：范围是您可见的客户（销售只看自己的），可按区域、客户分层、"
            "负责人、风险等级或行业筛选。",
        ),
        (
            (
                "Total exposure and limits, limit utilisation bands by risk tier.",
                "总敞口与总额度，按风险等级划分的额度使用率区间。",
            ),
            (
                "Ageing of receivables, DSO, best possible DSO, average days delinquent and CEI "
                "by month.",
                "应收账款账龄，以及按月的应收账款周转天数、最佳周转天数、平均拖欠天数和回款效率指数。",
            ),
            (
                "Concentration (HHI) and the largest exposures; held orders, limit requests, "
                "the alert funnel and reviews due, each linking to its work list.",
                "集中度（HHI）与最大敞口；被冻结订单、额度申请、告警漏斗和到期复审，均可点进对应工作列表。",
            ),
            (
                "Rating migration between two month ends.",
                "两个月末之间的信用等级迁移。",
            ),
        ),
        (("GET", "/portfolio"),),
        terms=("dso", "best_dso", "add", "cei", "utilisation", "hhi", "ageing_bucket"),
    ),
    Screen(
        "customers",
        ("/customers",),
        ("Customer list", "客户列表"),
        (
            "Search and filter the customers you may see; sales and customer service see only "
            "their own or their team's. Personal data is masked unless your role sees it.",
            "搜索和筛选您可见的客户；销售和客服只能看到自己或本团队的客户。"
            "除非您的角色有权查看，个人数据会被遮蔽。",
        ),
        (
            (
                "Code, name, risk tier, limit, exposure and owner of each customer.",
                "每个客户的编码、名称、风险等级、额度、敞口和负责人。",
            ),
            (
                "A download of the list under the current search and filters.",
                "按当前搜索和筛选条件下载列表。",
            ),
        ),
        (("GET", "/customers"),),
        (
            A(
                ("GET", "/customers/export"),
                ("Download the list", "下载列表"),
                (
                    "A CSV or Excel file of what the list shows.",
                    "将列表内容下载为 CSV 或 Excel 文件。",
                ),
            ),
        ),
        ("credit_file", "risk_tier", "exposure"),
    ),
    Screen(
        "customer",
        ("/customers/",),
        ("Credit file", "信用档案"),
        (
            "Everything about one customer: master data, credit profile, indicators, score and "
            "reasons, exposure, history of changes, documents, contacts, interactions, "
            "contracts, reviews and privacy.",
            "一个客户的全部信息：主数据、信用资料、指标、评分与原因代码、敞口、变更历史、"
            "附件、联系人、沟通记录、合同、复审和隐私。",
        ),
        (
            (
                "Limit, available credit, exposure by category and the policy's limit "
                "recommendation.",
                "额度、可用额度、按类别的敞口以及政策给出的额度建议。",
            ),
            (
                "Indicators (DSO, DPD, DBT, ageing...) with their trends, and the latest score "
                "with its reason codes.",
                "指标（周转天数、逾期天数、超期天数、账龄等）及其趋势，最新评分及原因代码。",
            ),
            (
                "Changes to critical fields (limit, terms, rating override...) wait for a second "
                "person in the approvals queue; plain fields apply at once.",
                "关键字段（额度、账期、等级覆盖等）的修改需第二人在审批队列中批准；普通字段立即生效。",
            ),
            (
                "A printable credit report (A4).",
                "可打印的信用报告（A4）。",
            ),
            (
                "Interactions, newest first: type and purpose, when, who logged it, the notes and "
                "the next step with its date; the latest ten here, all of them (paged and "
                "searchable) behind the link.",
                "沟通记录（最新在前）：方式和目的、时间、登记人、沟通内容以及下一步和日期；"
                "此处显示最近十条，点链接可分页查看和搜索全部记录。",
            ),
            (
                "Contracts with their number, signing, start and end dates, amount, payment "
                "terms, fulfilment, and whether they are in force, not started or ended.",
                "合同：编号、签订日期、开始和结束日期、金额、账期、履行状态，以及生效中、"
                "未开始或已到期。",
            ),
        ),
        (("GET", "/customers/{customer_id}"), ("GET", "/customers/{customer_id}/report")),
        (
            A(
                ("POST", "/customers/{customer_id}/edit"),
                ("Edit the credit file", "编辑信用档案"),
                (
                    "Plain fields apply at once; critical ones go to the approvals queue. The "
                    "credit profile fields also need the right to write the credit profile.",
                    "普通字段立即生效，关键字段进入审批队列。信用资料字段还需要修改信用资料的权限。",
                ),
            ),
            A(
                ("POST", "/customers/{customer_id}/contacts"),
                ("Add a contact", "添加联系人"),
                ("Adds a contact person to the file.", "为档案添加一位联系人。"),
            ),
            A(
                ("POST", "/customers/{customer_id}/documents"),
                ("Attach a document", "上传附件"),
                ("Attaches a file (a contract, a statement...).", "上传文件（合同、报表等）。"),
            ),
            A(
                ("POST", "/customers/{customer_id}/reveal"),
                ("Reveal a masked value", "查看被遮蔽的值"),
                (
                    "Shows one masked value in full; the reason is written to the audit log.",
                    "完整显示一个被遮蔽的值，填写的原因会记入审计日志。",
                ),
            ),
            A(
                ("POST", "/customers/{customer_id}/score"),
                ("Score now", "立即评分"),
                (
                    "Scores the customer now with the active scorecard that fits.",
                    "用适用的生效评分卡立即为该客户评分。",
                ),
            ),
            A(
                ("POST", "/customers/{customer_id}/limit-requests"),
                ("Request a limit", "申请额度"),
                (
                    "Asks for a new credit limit; it waits in the limit requests list.",
                    "申请新的信用额度，申请进入额度申请列表等待决定。",
                ),
            ),
            A(
                ("POST", "/customers/{customer_id}/reviews"),
                ("Start a review", "发起复审"),
                ("Opens (or continues) the customer's review.", "开始（或继续）该客户的复审。"),
            ),
            A(
                ("POST", "/customers/{customer_id}/interactions"),
                ("Log a call, visit or e-mail", "登记电话、拜访或邮件"),
                (
                    "Records the contact with its notes and a next step (and its date) on the "
                    "timeline. Sending the same form twice records it once. The notes are erased "
                    "with the customer's personal data.",
                    "在沟通记录中登记此次联系、沟通内容以及下一步（和日期）。同一表单重复提交"
                    "只记录一次。沟通内容随客户个人数据一并删除。",
                ),
            ),
            A(
                ("GET", "/customers/{customer_id}/interactions"),
                ("Search the notes", "搜索沟通内容"),
                (
                    "All of the customer's interactions, paged; the search keeps those whose notes "
                    "or next step hold every word typed.",
                    "分页查看该客户的全部沟通记录；搜索只保留沟通内容或下一步中包含所输入全部"
                    "词语的记录。",
                ),
            ),
        ),
        ("credit_file", "available_credit", "reason_code", "dbt", "dpd", "four_eyes"),
        ("privacy", "approvals", "limit_requests", "reviews", "interactions"),
    ),
    Screen(
        "privacy",
        (),
        ("Privacy panel of the credit file", "信用档案的隐私面板"),
        (
            "On the credit file of a person: consents, legal holds, an export of everything held "
            "about the person, and erasure.",
            "个人客户信用档案上的隐私面板：授权同意、法律保全、个人数据导出和删除。",
        ),
        (
            (
                "Erasure is refused while a legal hold stands, and needs the customer's code "
                "typed to confirm it: it cannot be undone.",
                "存在法律保全时不能删除；删除前需输入客户编码确认，删除不可撤销。",
            ),
        ),
        (("GET", "/customers/{customer_id}"),),
        (
            A(
                ("POST", "/customers/{customer_id}/consents"),
                ("Record a consent", "记录授权"),
                ("Records a consent given or withdrawn.", "记录授权的给出或撤回。"),
            ),
            A(
                ("POST", "/customers/{customer_id}/legal-holds"),
                ("Place a legal hold", "设置法律保全"),
                ("Keeps the customer's data from erasure.", "阻止该客户数据被删除。"),
            ),
            A(
                ("POST", "/customers/{customer_id}/legal-holds/{hold_id}/release"),
                ("Release a legal hold", "解除法律保全"),
                (
                    "Ends a hold; a colleague of whoever placed it must do it.",
                    "解除保全，须由设置人以外的同事操作。",
                ),
            ),
            A(
                ("GET", "/customers/{customer_id}/personal-data.json"),
                ("Export personal data", "导出个人数据"),
                (
                    "Everything held about the person, as a file (logged).",
                    "以文件形式导出全部个人数据（记入日志）。",
                ),
            ),
            A(
                ("POST", "/customers/{customer_id}/erasure"),
                ("Erase personal data", "删除个人数据"),
                ("Erases the person's data for good.", "永久删除此人的个人数据。"),
            ),
        ),
    ),
    Screen(
        "alerts",
        ("/alerts",),
        ("Alert queue", "告警队列"),
        (
            "Alerts raised by the early-warning rules, the most at stake first (or the most "
            "recent), with filters by status, severity, category, warning type and dates.",
            "由预警规则产生的告警，默认按风险大小排序（也可按时间），可按状态、严重程度、类别、"
            "预警类型和日期筛选。",
        ),
        (
            (
                "Each alert: customer, rule, severity, evidence, SLA and its case.",
                "每条告警：客户、规则、严重程度、证据、时效和所属案件。",
            ),
            (
                "An alert moves open → acknowledged → in progress → resolved or dismissed; "
                "closing it records the outcome (a confirmed risk or a false alarm).",
                "告警的流转：未处理 → 已确认 → 处理中 → 已解决或已驳回；"
                "关闭时需记录结论（风险属实或误报）。",
            ),
        ),
        (("GET", "/alerts"),),
        (
            A(
                ("POST", "/alerts/{alert_id}/move"),
                ("Acknowledge, work or close an alert", "确认、处理或关闭告警"),
                (
                    "Moves the alert on; an unassigned alert becomes yours.",
                    "推进告警状态；未分派的告警会分派给您。",
                ),
            ),
            A(
                ("GET", "/alerts/export"),
                ("Download the queue", "下载队列"),
                ("The alerts under the queue's filters, as a file.", "按当前筛选条件下载告警。"),
            ),
        ),
        ("early_warning", "alert", "case"),
    ),
    Screen(
        "cases",
        ("/cases",),
        ("Case", "案件"),
        (
            "A customer's case groups its alerts: their evidence, a timeline, the playbook steps "
            "offered and the comments.",
            "案件汇集一个客户的告警：证据、时间线、处置预案建议的步骤和评论。",
        ),
        (
            (
                "Playbook steps are offered by the playbooks whose rule and severity match.",
                "处置预案中与规则和严重程度匹配的步骤会作为建议出现。",
            ),
        ),
        (("GET", "/cases/{case_id}"),),
        (
            A(
                ("POST", "/cases/{case_id}/comments"),
                ("Comment", "评论"),
                (
                    "Comments on an alert; @name tells a colleague.",
                    "对告警发表评论；@用户名 可通知同事。",
                ),
            ),
            A(
                ("POST", "/cases/{case_id}/alerts/{alert_id}/move"),
                ("Move an alert on", "推进告警"),
                ("As on the alert queue.", "与告警队列中的操作相同。"),
            ),
            A(
                ("POST", "/cases/{case_id}/actions/{action_id}"),
                ("Carry out a step", "执行步骤"),
                (
                    "Carries out an offered playbook step, or marks a task done.",
                    "执行建议的处置步骤，或将任务标记为完成。",
                ),
            ),
        ),
        ("case", "playbook"),
    ),
    Screen(
        "rules",
        ("/rules", "/rule-versions"),
        ("Early-warning rules", "预警规则"),
        (
            "The rules that raise alerts, their versions and live effectiveness, and the rule "
            "editor with a live syntax check.",
            "产生告警的规则、规则版本与实际效果，以及带实时语法检查的规则编辑器。",
        ),
        (
            (
                "A rule is an expression over indicators; unknown fields fail when it is saved.",
                "规则是基于指标的表达式；使用未知字段在保存时即报错。",
            ),
            (
                "A new version is a draft until a second person approves it; then it can be "
                "activated.",
                "新版本在第二人批准前为草稿，批准后才能启用。",
            ),
        ),
        (("GET", "/rules"),),
        (
            A(
                ("POST", "/rules"),
                ("Save a draft", "保存草稿"),
                ("Saves a new rule or a new version as a draft.", "将新规则或新版本保存为草稿。"),
            ),
            A(
                ("POST", "/rules/backtest"),
                ("Backtest", "回测"),
                (
                    "Runs the expression over the last 12 months as a background job.",
                    "在后台作业中以过去 12 个月的数据回测该表达式。",
                ),
            ),
            A(
                ("POST", "/rules/replay"),
                ("Replay the pack", "重放规则包"),
                (
                    "Compares the pack month by month as it is and with this version.",
                    "逐月对比规则包现状与采用此版本后的结果。",
                ),
            ),
            A(
                ("POST", "/rule-versions/{version_id}/{action}"),
                ("Approve a version", "批准版本"),
                (
                    "A second person (not its author) approves a draft.",
                    "由作者以外的第二人批准草稿。",
                ),
                also=Permission.CHANGES_APPROVE,
            ),
            A(
                ("POST", "/rule-versions/{version_id}/{action}"),
                ("Activate a version", "启用版本"),
                (
                    "An approved version replaces the active one.",
                    "已批准的版本替换当前生效的版本。",
                ),
            ),
        ),
        ("early_warning", "four_eyes"),
    ),
    Screen(
        "playbooks",
        ("/playbooks",),
        ("Playbooks", "处置预案"),
        (
            "What to do when a rule fires: each playbook matches a rule and a minimum severity "
            "and offers its steps on the alert's case.",
            "规则触发后的处理步骤：每个预案对应一条规则和最低严重程度，并在告警所属案件中给出步骤建议。",
        ),
        (),
        (("GET", "/playbooks"),),
        (
            A(
                ("POST", "/playbooks"),
                ("Create or edit a playbook", "新建或编辑预案"),
                ("Saves the playbook and its steps.", "保存预案及其步骤。"),
            ),
        ),
        ("playbook",),
    ),
    Screen(
        "complaints",
        ("/complaints",),
        ("Complaint desk", "投诉台"),
        (
            "Complaints waiting for an answer, SLA breaches and product trends; complaints and "
            "satisfaction feed the customer's indicators and rules at once.",
            "待回复的投诉、超时情况和产品趋势；投诉和满意度会立即影响客户的指标和规则。",
        ),
        (),
        (("GET", "/complaints"),),
        (
            A(
                ("POST", "/complaints/new"),
                ("Record a complaint", "登记投诉"),
                ("A complaint taken on the phone or at the counter.", "登记电话或柜台受理的投诉。"),
                also=Permission.SERVICE_EVENTS_WRITE,
            ),
            A(
                ("POST", "/complaints/surveys/new"),
                ("Record a satisfaction answer", "登记满意度"),
                ("A CSAT (1–5) or NPS (0–10) answer.", "登记 CSAT（1–5）或 NPS（0–10）评分。"),
                also=Permission.SERVICE_EVENTS_WRITE,
            ),
            A(
                ("POST", "/complaints/{complaint_id}/respond"),
                ("Answer or resolve", "回复或解决"),
                (
                    "The first answer meets (or misses) the response SLA.",
                    "首次回复决定是否满足响应时效。",
                ),
            ),
            A(
                ("GET", "/complaints/export"),
                ("Download", "下载"),
                ("The desk under its filters, as a file.", "按筛选条件下载投诉。"),
            ),
        ),
    ),
    Screen(
        "interactions",
        ("/interactions",),
        ("Search interactions", "搜索沟通记录"),
        (
            "Finds calls, visits and e-mails by the words in their notes or next step, among the "
            "customers you may see: sales and customer service search only their own and their "
            "team's customers.",
            "按沟通内容或下一步中的词语查找电话、拜访和邮件记录，仅限您可查看的客户：销售和"
            "客服只能搜索自己及本团队的客户。",
        ),
        (
            (
                "Each interaction found: type and purpose, when, who logged it, the customer, the "
                "notes and the next step, newest first, 25 a page.",
                "每条找到的记录：方式和目的、时间、登记人、客户、沟通内容和下一步，最新在前，"
                "每页 25 条。",
            ),
            (
                "Every word typed must appear; the case of letters does not matter.",
                "必须包含所输入的每个词语；不区分英文大小写。",
            ),
        ),
        (("GET", "/interactions"),),
        (),
        (),
        ("customer",),
    ),
    Screen(
        "approvals",
        ("/approvals",),
        ("Approvals", "审批"),
        (
            "Changes to critical fields of credit files, waiting for a second person.",
            "信用档案关键字段的修改，等待第二人审批。",
        ),
        (("Nobody approves their own change.", "任何人都不能批准自己的修改。"),),
        (("GET", "/approvals"),),
        (
            A(
                ("POST", "/approvals/{change_id}/approve"),
                ("Approve", "批准"),
                ("Writes the change to the credit file.", "将修改写入信用档案。"),
            ),
            A(
                ("POST", "/approvals/{change_id}/reject"),
                ("Reject or withdraw", "驳回或撤回"),
                (
                    "Rejects a change (approvers), or withdraws one's own.",
                    "驳回修改（审批人），或撤回自己的修改。",
                ),
            ),
        ),
        ("four_eyes",),
    ),
    Screen(
        "worklist",
        ("/worklist",),
        ("Held orders", "被冻结订单"),
        (
            "Orders the credit check held, waiting for a person: over the available credit, "
            "above the largest order allowed, an invoice overdue too long, a blocked customer, "
            "or one that must prepay.",
            "被信用检查冻结、等待人工处理的订单：超出可用额度、超过单笔订单上限、发票逾期过久、"
            "客户被冻结或须预付款。",
        ),
        (),
        (("GET", "/worklist"),),
        (
            A(
                ("POST", "/worklist/{decision_id}/{action}"),
                ("Release, reject or recheck", "放行、拒绝或重新检查"),
                (
                    "Releases the order, rejects it, or runs the credit check again.",
                    "放行订单、拒绝订单或重新运行信用检查。",
                ),
            ),
            A(
                ("GET", "/worklist/export"),
                ("Download", "下载"),
                ("The held orders, as a file.", "下载被冻结订单。"),
            ),
        ),
        ("credit_decision", "available_credit"),
    ),
    Screen(
        "scorecards",
        ("/scorecards", "/scorecard-versions", "/scorecard-drafts", "/scoring-runs"),
        ("Scorecards", "评分卡"),
        (
            "Scorecards, their versions, and drafts with a preview of what they would change. "
            "The editor writes a new scorecard or a draft: its factors (what each reads, and "
            "the points by bins or by a weight), the bins' edges, and the rating and risk tier "
            "bands; beside it, the ratings and tiers the draft would give today's customers "
            "against the ones they have, and how many would move up or down.",
            "评分卡及其版本，以及草稿对评分结果影响的预览。编辑器用于新建评分卡或编辑草稿："
            "各因子（读取的数据项，以及按分档或按比例的得分）、分档边界、评级和风险等级区间；"
            "旁边显示按该草稿为今日客户评出的评级和风险等级与当前的对比，以及上调和下调的客户数。",
        ),
        (
            (
                "Errors are shown next to the field: a bin must start where the one before "
                "it ends, and the bands must cover scores 0 to 1,000 without gap or overlap.",
                "错误显示在对应字段旁：每一档须从上一档的上限开始，各区间须完整覆盖 0 至 "
                "1,000 分，不能有空档或重叠。",
            ),
        ),
        (
            ("GET", "/scorecards"),
            ("GET", "/scorecards/new"),
            ("GET", "/scorecard-drafts/{version_id}"),
        ),
        (
            A(
                ("POST", "/scorecards/new"),
                ("Create a scorecard", "新建评分卡"),
                (
                    "Saves a new scorecard as a draft version.",
                    "将新评分卡保存为草稿版本。",
                ),
            ),
            A(
                ("POST", "/scorecards/{code}/drafts"),
                ("New draft", "新建草稿"),
                (
                    "Copies the active version into a new draft to edit.",
                    "将生效版本复制为新草稿以便编辑。",
                ),
            ),
            A(
                ("POST", "/scorecard-drafts/{version_id}"),
                ("Save or submit a draft", "保存或提交草稿"),
                (
                    "Saves the draft; it stays a draft until a second person approves it. A "
                    "draft someone changed since you opened it is not overwritten.",
                    "保存草稿；在第二人审批前仍为草稿。若打开后他人已修改，则不会覆盖。",
                ),
            ),
            A(
                ("POST", "/scorecard-drafts/{version_id}/preview"),
                ("Preview", "预览"),
                (
                    "Shows what the draft in the form would give, without saving it.",
                    "显示表单中草稿的评级结果，不保存。",
                ),
            ),
            A(
                ("POST", "/scorecard-versions/{version_id}/{action}"),
                ("Approve or reject a draft", "批准或驳回草稿"),
                ("Not one's own draft.", "不能批准自己的草稿。"),
            ),
            A(
                ("POST", "/scoring-runs"),
                ("Rescore everyone", "全部重新评分"),
                (
                    "Recomputes indicators and rescores all customers as a background job.",
                    "作为后台作业重新计算指标并为所有客户重新评分。",
                ),
            ),
        ),
        ("rating", "risk_tier", "reason_code"),
    ),
    Screen(
        "models",
        ("/models",),
        ("Models", "模型"),
        (
            "The model registry: champion and challengers, validation (AUC), stability (PSI) "
            "and matured performance.",
            "模型登记册：冠军模型与挑战者模型、验证（AUC）、稳定性（PSI）和成熟期表现。",
        ),
        (),
        (("GET", "/models"), ("GET", "/models/{version_id}")),
        (
            A(
                ("POST", "/models/{version_id}/promote"),
                ("Ask for promotion", "申请晋升"),
                ("Asks for a challenger to become champion.", "申请将挑战者模型晋升为冠军模型。"),
            ),
            A(
                ("POST", "/models/{version_id}/approve-promotion"),
                ("Approve a promotion", "批准晋升"),
                (
                    "Not one's own request, nor one's own model.",
                    "不能批准自己的申请，也不能批准自己的模型。",
                ),
            ),
        ),
        ("pd", "auc", "psi"),
    ),
    Screen(
        "reviews",
        ("/reviews",),
        ("Reviews", "复审"),
        (
            "Periodic credit reviews that are overdue or soon due; a review keeps the evidence "
            "captured when it was opened, and ends with a signed-off decision.",
            "已逾期或即将到期的定期信用复审；复审保存发起时的证据，并以签署的决定结束。",
        ),
        (
            (
                "How far ahead the queue looks: 7, 30, 60 (the default) or 90 days, or any "
                "number up to 366; the choice stays in the page's address.",
                "队列向前看多少天：7、30、60（默认）或 90 天，或不超过 366 的任意天数；所选天数"
                "保留在页面地址中。",
            ),
        ),
        (("GET", "/reviews"), ("GET", "/reviews/{review_id}")),
        (
            A(
                ("POST", "/customers/{customer_id}/reviews"),
                ("Start a review", "发起复审"),
                ("Opens (or continues) a review.", "开始（或继续）复审。"),
            ),
            A(
                ("POST", "/reviews/{review_id}/complete"),
                ("Sign off", "签署完成"),
                (
                    "Records the outcome (confirmed, watch, a limit change with its new limit, "
                    "or block) and a comment.",
                    "记录结论（维持、关注、调整额度并填写新额度或冻结）和意见。",
                ),
            ),
            A(
                ("GET", "/reviews/export"),
                ("Download", "下载"),
                ("The queue, as a file.", "下载复审队列。"),
            ),
        ),
        ("review",),
    ),
    Screen(
        "limit_requests",
        ("/limit-requests",),
        ("Limit requests", "额度申请"),
        (
            "Requests for a new credit limit waiting for a decision.",
            "等待决定的信用额度申请。",
        ),
        (
            (
                "An approver decides only within their approval authority.",
                "审批人只能在其审批权限范围内做出决定。",
            ),
        ),
        (("GET", "/limit-requests"),),
        (
            A(
                ("POST", "/limit-requests/{request_id}/{action}"),
                ("Approve or reject", "批准或驳回"),
                ("Decides the request.", "对申请做出决定。"),
                also=Permission.LIMIT_REQUESTS_APPROVE,
            ),
            A(
                ("GET", "/limit-requests/export"),
                ("Download", "下载"),
                ("The pending requests, as a file.", "下载待决定的申请。"),
            ),
        ),
        ("limit_request", "credit_limit"),
    ),
    Screen(
        "reports",
        ("/reports",),
        ("Reports", "报表"),
        (
            "The reports you may have, and your e-mail subscriptions to them.",
            "您可获取的报表，以及报表的邮件订阅。",
        ),
        (),
        (("GET", "/reports"),),
        (
            A(
                ("POST", "/reports/subscriptions"),
                ("Subscribe or unsubscribe", "订阅或退订"),
                ("Receive the report by e-mail, or stop.", "通过邮件接收报表，或停止接收。"),
            ),
        ),
    ),
    Screen(
        "ecl",
        ("/ecl",),
        ("Expected credit loss", "预期信用损失"),
        (
            "Stored provision-matrix runs, their report per segment, and forward-looking "
            "adjustments.",
            "已保存的准备金矩阵计算结果、按细分的报告，以及前瞻性调整。",
        ),
        (
            (
                "An adjustment proposed by one person is approved by another.",
                "一人提出的调整须由另一人批准。",
            ),
        ),
        (("GET", "/ecl"), ("GET", "/ecl/runs/{run_id}")),
        (
            A(
                ("POST", "/ecl/runs"),
                ("Compute a run", "计算"),
                ("Computes and stores a run as a background job.", "作为后台作业计算并保存结果。"),
            ),
            A(
                ("POST", "/ecl/adjustments"),
                ("Propose an adjustment", "提出调整"),
                ("A forward-looking multiplier for a segment.", "为某细分提出前瞻性乘数。"),
            ),
            A(
                ("POST", "/ecl/adjustments/{adjustment_id}/{action}"),
                ("Approve or reject an adjustment", "批准或驳回调整"),
                ("Not one's own.", "不能批准自己提出的调整。"),
            ),
        ),
        ("ecl", "provision_matrix", "roll_rate", "ageing_bucket"),
    ),
    Screen(
        "groups",
        ("/groups", "/group-limit-changes"),
        ("Customer groups", "客户集团"),
        (
            "Groups of related customers: group limit, exposure, utilisation, and group limit "
            "changes waiting for approval.",
            "关联客户组成的集团：集团额度、敞口、使用率，以及等待审批的集团额度变更。",
        ),
        (),
        (("GET", "/groups"),),
        (
            A(
                ("POST", "/groups/{code}/limit"),
                ("Ask for a group limit", "申请集团额度"),
                ("A new group limit (empty removes it).", "新的集团额度（留空则取消）。"),
            ),
            A(
                ("POST", "/group-limit-changes/{change_id}/{action}"),
                ("Approve or reject", "批准或驳回"),
                ("Not one's own.", "不能批准自己的申请。"),
            ),
        ),
        ("exposure", "utilisation", "four_eyes"),
    ),
    Screen(
        "imports",
        ("/imports",),
        ("Imports", "数据导入"),
        (
            "Upload a file of customers, financial statements, credit reports, orders, "
            "invoices, payments, returns, complaints, surveys, interactions or contracts, and "
            "follow its progress; each row is validated and the outcome lists the rejected rows.",
            "上传客户、财务报表、征信报告、订单、发票、付款、退货、投诉、满意度调查、沟通记录或合同"
            "数据文件并跟踪进度；每一行都会校验，结果中列出被拒绝的行。",
        ),
        (),
        (("GET", "/imports"), ("GET", "/imports/{job_id}")),
        (
            A(
                ("POST", "/imports"),
                ("Import a file", "导入文件"),
                ("Starts the import in the background.", "在后台开始导入。"),
            ),
        ),
    ),
    Screen(
        "duplicates",
        ("/duplicates",),
        ("Duplicates", "重复客户"),
        (
            "Customers that look like the same one (same tax ID, similar names).",
            "疑似同一客户的记录（相同税号、相似名称）。",
        ),
        (),
        (("GET", "/duplicates"),),
        (
            A(
                ("POST", "/duplicates/merge"),
                ("Merge", "合并"),
                ("Merges the duplicate into the survivor.", "将重复记录合并到保留记录中。"),
            ),
        ),
    ),
    Screen(
        "jobs",
        ("/jobs",),
        ("Jobs", "后台作业"),
        (
            "Background jobs (scoring runs, backtests, ECL runs, imports...): you see your own; "
            "auditors and admins see all.",
            "后台作业（评分、回测、预期信用损失计算、导入等）：您能看到自己的作业，审计和管理员可看到全部。",
        ),
        (),
        (("GET", "/jobs"), ("GET", "/jobs/{job_id}")),
        (
            A(
                ("POST", "/jobs/{job_id}/cancel"),
                ("Cancel", "取消"),
                (
                    "A running job stops at its next progress point.",
                    "运行中的作业会在下一个进度点停止。",
                ),
            ),
        ),
    ),
    Screen(
        "audit",
        ("/audit",),
        ("Audit log", "审计日志"),
        (
            "Every write, export and view of personal data, newest first, with filters; the "
            "chain check proves no entry was changed or removed.",
            "所有写入、导出和个人数据查看记录，按时间倒序并可筛选；链式校验可证明没有记录被篡改或删除。",
        ),
        (),
        (("GET", "/audit"),),
        (
            A(
                ("GET", "/audit/export"),
                ("Download", "下载"),
                ("The filtered log, as a file.", "下载筛选后的日志。"),
            ),
        ),
    ),
    Screen(
        "users",
        ("/users", "/me/password"),
        ("Users and accounts", "用户与账户"),
        (
            "Every user with their state (active, disabled or locked out until when); for "
            "admins, creating users and, on a user's page, their role, team and account; and "
            "the form to change one's own password.",
            "所有用户及其状态（启用、停用或锁定至何时）；管理员可新建用户，并在用户页面修改其角色、"
            "团队和账户；以及修改本人密码的表单。",
        ),
        (
            (
                "A new user's first password and a reset one are generated and shown once: hand "
                "them over through another channel; the user changes them under Password.",
                "新用户的初始密码和重置后的密码由系统生成，只显示一次：请通过其他渠道交给本人，"
                "本人在“密码”中修改。",
            ),
            (
                "A disabled user cannot sign in and their API tokens stop working; the last "
                "active admin can be neither disabled nor given another role.",
                "停用的用户无法登录，其 API 令牌也会失效；"
                "最后一位在用的管理员既不能停用，也不能改为其他角色。",
            ),
        ),
        (("GET", "/users"), ("GET", "/users/{user_id}"), ("GET", "/me/password")),
        (
            A(
                ("POST", "/users"),
                ("Create user", "创建用户"),
                (
                    "User name, display name, e-mail, role and team; the first password is "
                    "shown once.",
                    "填写用户名、显示名称、邮箱、角色和团队；初始密码只显示一次。",
                ),
            ),
            A(
                ("POST", "/users/{user_id}"),
                ("Save", "保存"),
                (
                    "Changes the display name, e-mail, role and team.",
                    "修改显示名称、邮箱、角色和团队。",
                ),
            ),
            A(
                ("POST", "/users/{user_id}/disable"),
                ("Disable account", "停用账户"),
                (
                    "No sign-in; browser sessions end and API tokens stop working.",
                    "无法登录；浏览器会话被注销，API 令牌失效。",
                ),
            ),
            A(
                ("POST", "/users/{user_id}/enable"),
                ("Enable account", "启用账户"),
                (
                    "The account works again, with its tokens that were not revoked.",
                    "账户恢复可用，未吊销的令牌也恢复有效。",
                ),
            ),
            A(
                ("POST", "/users/{user_id}/password"),
                ("Reset password", "重置密码"),
                (
                    "A new generated password, shown once; the lock-out and sessions end.",
                    "生成新密码并只显示一次；锁定解除，会话被注销。",
                ),
            ),
            A(
                ("POST", "/users/{user_id}/unlock"),
                ("Unlock", "解锁"),
                (
                    "Ends a lock-out now; the audit log records who did.",
                    "立即解除锁定，审计日志会记录操作人。",
                ),
            ),
            A(
                ("POST", "/me/password"),
                ("Change my password", "修改我的密码"),
                (
                    "The current one first; other sessions end.",
                    "需先输入当前密码；其他会话会被注销。",
                ),
            ),
        ),
    ),
    Screen(
        "settings",
        ("/settings",),
        ("Company settings", "公司设置"),
        (
            "The display time zone: the clock every page shows times on (an alert raised, a "
            "due time, the audit log), for everyone who has not picked their own on My "
            "settings. Each page's footer names the zone and whose it is.",
            "显示时区：所有页面显示时间（告警产生时间、处理时限、审计日志等）所用的时区，"
            "对未在“我的设置”中选择个人时区的所有用户生效。每个页面底部都会注明所用时区及其来源。",
        ),
        (
            (
                "Business dates (invoice and order dates, due dates, review dates) are shown as "
                "recorded and never shift with the zone.",
                "发票和订单日期、到期日、复审日期等业务日期按记录显示，不随时区变化。",
            ),
            (
                "The API and exported files stay in UTC and say so; the audit log shows each "
                "entry's exact UTC time under its local time.",
                "API 和导出文件始终使用 UTC 并注明；"
                "审计日志在本地时间下方显示每条记录的 UTC 时间。",
            ),
        ),
        (("GET", "/settings"),),
        (
            A(
                ("POST", "/settings/time-zone"),
                ("Save", "保存"),
                (
                    "Sets the zone by its IANA name (Asia/Shanghai); summer time is followed "
                    "by itself. Only administrators; the audit log records the change.",
                    "按 IANA 时区名称设置（中国大陆为亚洲/上海），夏令时自动处理。"
                    "仅管理员可修改，审计日志记录每次更改。",
                ),
            ),
        ),
        related=("users", "audit"),
    ),
    Screen(
        "tokens",
        ("/tokens",),
        ("API tokens", "API 令牌"),
        (
            "Every API token (user, name, scopes, created, last used, expiry, revoked), the "
            "form to issue one for a user with chosen scopes, and revoking.",
            "所有 API 令牌（用户、名称、授权范围、创建时间、最近使用、到期、是否吊销），"
            "为用户按所选授权范围签发令牌的表单，以及吊销。",
        ),
        (
            (
                "The secret is shown once, when the token is issued: copy it then. Only its "
                "hash is kept; a lost token is revoked and a new one issued.",
                "密钥只在签发时显示一次，请当场复制。系统只保存其哈希值；丢失的令牌应吊销后重新签发。",
            ),
            (
                "A token can do no more than its scopes and its user's role allow.",
                "令牌的权限不超过其授权范围和所属用户的角色。",
            ),
        ),
        (("GET", "/tokens"),),
        (
            A(
                ("POST", "/tokens"),
                ("Issue token", "签发令牌"),
                (
                    "For the chosen user, with the chosen scopes and expiry.",
                    "为所选用户签发，带所选授权范围和有效期。",
                ),
            ),
            A(
                ("POST", "/tokens/{token_id}/revoke"),
                ("Revoke", "吊销"),
                (
                    "Calls with the token are refused from now on.",
                    "此后使用该令牌的调用都会被拒绝。",
                ),
            ),
        ),
        related=("users",),
    ),
    Screen(
        "notifications",
        ("/me/notifications",),
        ("Notifications", "通知"),
        (
            "Your notifications (alerts routed to you, and @mentions in case comments) and how "
            "you want to receive them: in the app, by e-mail, from which severity.",
            "您的通知（分派给您的告警、案件评论中的@提及）以及接收方式：站内、邮件、最低严重程度。",
        ),
        (),
        (("GET", "/me/notifications"),),
        (
            A(
                ("POST", "/me/notifications"),
                ("Save my settings", "保存我的设置"),
                ("How and when you are told.", "设置通知的方式和时间。"),
            ),
        ),
    ),
    Screen(
        "my_settings",
        ("/me/settings",),
        ("My settings", "我的设置"),
        (
            "Your own display time zone: the clock your pages show times on, when you work "
            "somewhere other than the company. Left at the company default, your pages follow "
            "the company's zone. Each page's footer says whose zone it is.",
            "您自己的显示时区：在与公司不同的时区工作时，您的页面按此时区显示时间。"
            "保持公司默认时，您的页面跟随公司时区。每个页面底部都会注明使用的是谁的时区。",
        ),
        (
            (
                "Only your own pages change; colleagues keep theirs. Business dates never "
                "shift; the API, exported files and printed reports keep their own clocks.",
                "只影响您自己的页面，同事不受影响。业务日期不随时区变化；"
                "API、导出文件和打印的报告保持各自的时间基准。",
            ),
        ),
        (("GET", "/me/settings"),),
        (
            A(
                ("POST", "/me/settings/time-zone"),
                ("Save", "保存"),
                (
                    "Sets your zone, or back to the company default; the audit log records "
                    "the change.",
                    "设置您的时区，或恢复公司默认；审计日志记录每次更改。",
                ),
            ),
        ),
        related=("settings", "notifications"),
    ),
    Screen(
        "integrations",
        ("/integrations",),
        ("Integrations", "系统集成"),
        (
            "Webhook receivers and the delivery log of e-mails and webhook calls.",
            "回调接收端，以及邮件和回调的投递记录。",
        ),
        (),
        (("GET", "/integrations"),),
        (
            A(
                ("POST", "/integrations/webhooks"),
                ("Register a receiver", "登记接收端"),
                ("Its secret is shown once.", "密钥只显示一次。"),
            ),
            A(
                ("POST", "/integrations/webhooks/{endpoint_id}"),
                ("Turn on or off, test, new secret", "启用/停用、测试、更换密钥"),
                ("Manages one receiver.", "管理一个接收端。"),
            ),
            A(
                ("POST", "/integrations/deliveries/{delivery_id}/retry"),
                ("Retry a delivery", "重新投递"),
                ("Sends a failed delivery again.", "重新发送失败的投递。"),
            ),
        ),
    ),
    Screen(
        "policy_tiers",
        ("/policy/tiers",),
        ("Tier policies", "风险等级政策"),
        (
            "What each risk tier means: the recommended limit's formula and caps, payment "
            "terms, prepayment and how often customers of the tier are reviewed. A saved change "
            "applies at once; saving the same values again changes nothing.",
            "每个风险等级的含义：建议额度的公式与封顶、账期、是否预付以及复审频率。保存后立即"
            "生效；再次保存相同的值不会产生变更。",
        ),
        (
            (
                "Limit multiple, payment terms, prepayment, review months per tier.",
                "每个等级的额度倍数、账期、预付要求和复审周期。",
            ),
            (
                "Caps by shares of equity and revenue and by the bureau's limit; minimum, "
                "maximum and rounding of the recommended limit.",
                "按净资产、营业收入比例和征信建议额度的封顶；建议额度的上下限与取整。",
            ),
        ),
        (("GET", "/policy/tiers"),),
        (
            A(
                ("POST", "/policy/tiers/{tier}"),
                ("Change a tier", "修改等级政策"),
                (
                    "Each wrong field is named next to it; nothing is saved until all are right.",
                    "填写有误的字段会逐一标出；全部正确后才会保存。",
                ),
            ),
        ),
        ("risk_tier", "credit_limit", "payment_terms", "review"),
        ("policy_approvals", "reviews"),
    ),
    Screen(
        "policy_approvals",
        ("/policy/approvals", "/policy/authorities", "/policy/delegations"),
        ("Approval matrix and delegations", "审批权限与授权"),
        (
            "Who may approve a limit request up to which limit, by risk tier, and the "
            "delegations of that authority for a period.",
            "谁可以审批多大金额的额度申请（按风险等级），以及在一段时间内对审批权限的授权。",
        ),
        (
            (
                "The approval matrix: a role or a person, a tier or any, up to an amount.",
                "审批权限表：角色或人员、某一等级或任意等级、审批上限。",
            ),
            (
                "Delegations you gave or hold, with their period and whether they are in force.",
                "您授出或获得的授权，及其期间和是否有效。",
            ),
        ),
        (("GET", "/policy/approvals"),),
        (
            A(
                ("POST", "/policy/authorities"),
                ("Add or change a row", "新增或修改一行"),
                (
                    "The same role or person and tier again changes the row's amount.",
                    "同一角色或人员和等级再次保存时修改该行金额。",
                ),
            ),
            A(
                ("POST", "/policy/authorities/{authority_id}/remove"),
                ("Remove a row", "删除一行"),
                ("Takes the authority away at once.", "立即取消该审批权限。"),
            ),
            A(
                ("POST", "/policy/delegations"),
                ("Delegate", "授权"),
                (
                    "Lends your authority to a colleague whose role approves limit requests.",
                    "将您的审批权限授予角色可审批额度申请的同事。",
                ),
            ),
            A(
                ("POST", "/policy/delegations/{delegation_id}/revoke"),
                ("Revoke", "撤销授权"),
                ("Ends a delegation you gave.", "结束您授出的授权。"),
            ),
        ),
        ("limit_request", "four_eyes"),
        ("policy_tiers", "limit_requests"),
    ),
    Screen(
        "policy_routes",
        ("/policy/alert-routes",),
        ("Alert routing and SLAs", "预警分派与处理时限"),
        (
            "Who gets a new alert (the first routing rule that matches) and how long they have "
            "to act on it by severity; past that time the alert escalates.",
            "新预警分派给谁（第一条匹配的分派规则），以及按严重程度的处理时限；超时后预警升级。",
        ),
        (
            (
                "Routing rules: order, category, lowest severity, region, segment, assignee, "
                "escalation contact.",
                "分派规则：序号、类别、最低严重程度、区域、客户分群、被分派人、升级联系人。",
            ),
            (
                "The response time of each severity, in whole hours (1 to 2,160); a change "
                "applies to alerts raised afterwards, and alerts already raised keep their due "
                "time.",
                "各严重程度的处理时限，以整数小时计（1 至 2160）；修改对此后产生的预警生效，"
                "已产生的预警保留原有的处理期限。",
            ),
        ),
        (("GET", "/policy/alert-routes"),),
        (
            A(
                ("POST", "/policy/alert-routes"),
                ("Add a routing rule", "新增分派规则"),
                ("The same rule again changes nothing.", "重复提交相同规则不会产生变更。"),
            ),
            A(
                ("POST", "/policy/alert-routes/{route_id}/remove"),
                ("Remove a routing rule", "删除分派规则"),
                ("New alerts stop following it at once.", "新预警立即不再按该规则分派。"),
            ),
            A(
                ("POST", "/policy/alert-slas/{severity}"),
                ("Change a response time", "修改处理时限"),
                (
                    "New alerts of that severity are due that many hours after they are raised; "
                    "the same hours again change nothing.",
                    "此后产生的该严重程度预警在产生后相应小时数内到期；重复提交相同小时数不会产生变更。",
                ),
            ),
        ),
        ("alert", "early_warning", "sla"),
        ("alerts", "rules"),
    ),
)

SCREENS_BY_KEY = {s.key: s for s in SCREENS}


@dataclass(frozen=True)
class Term:
    """A glossary entry: its name, a definition and (where there is one) the formula."""

    key: str
    name: Text
    definition: Text
    formula: Text | None = None


GLOSSARY: tuple[Term, ...] = (
    Term(
        "credit_file",
        ("Credit file", "信用档案"),
        (
            "Everything Riskdesk holds about a customer's credit: master data, profile, "
            "indicators, scores, exposure, documents and the history of changes.",
            "系统中关于客户信用的全部信息：主数据、信用资料、指标、评分、敞口、附件和变更历史。",
        ),
    ),
    Term(
        "credit_limit",
        ("Credit limit", "信用额度"),
        (
            "The most a customer may owe. Outside its validity dates the limit in force is zero.",
            "客户最多可欠的金额。超出有效期时，生效额度为零。",
        ),
    ),
    Term(
        "exposure",
        ("Credit exposure", "信用敞口"),
        (
            "What the customer owes or is committed to, by category (open orders, open "
            "invoices...); only the categories that count in the limit enter the credit check.",
            "客户已欠或已承诺的金额，按类别（未结订单、未付发票等）统计；只有计入额度的类别参与信用检查。",
        ),
        ("exposure = Σ counted categories", "敞口 = Σ 计入额度的各类别金额"),
    ),
    Term(
        "available_credit",
        ("Available credit", "可用额度"),
        ("Credit still available before an order.", "下单前仍可使用的额度。"),
        ("available = limit in force − exposure", "可用额度 = 生效额度 − 敞口"),
    ),
    Term(
        "utilisation",
        ("Limit utilisation", "额度使用率"),
        (
            "Exposure as a share of the limit; the portfolio groups customers into bands "
            "under 50%, 50–80%, 80–100% and over 100% (and no limit).",
            "敞口占额度的比例；组合看板按 50% 以下、50–80%、80–100%、100% 以上（以及无额度）分组。",
        ),
        ("utilisation = exposure ÷ limit", "额度使用率 = 敞口 ÷ 额度"),
    ),
    Term(
        "payment_terms",
        ("Payment terms", "账期"),
        ("Days after the invoice date by which it is due.", "发票开具后到期应付的天数。"),
    ),
    Term(
        "dpd",
        ("Days past due (DPD)", "逾期天数（DPD）"),
        (
            "How many days an invoice is open after its due date; the credit file shows the "
            "days past due of the most overdue open invoice.",
            "发票到期后仍未付清的天数；信用档案显示最久逾期的未付发票的逾期天数。",
        ),
        ("DPD = as-of date − due date", "DPD = 计算日 − 到期日"),
    ),
    Term(
        "dbt",
        ("Days beyond terms (DBT)", "超期天数（DBT）"),
        (
            "How late invoices were paid; Riskdesk weights it by amount over the invoices paid "
            "in the last 90 or 365 days.",
            "发票付款迟于到期日的天数；系统按金额对最近 90 天或 365 天内结清的发票加权计算。",
        ),
        (
            "DBT = Σ(amount × days paid after due) ÷ Σ amount",
            "DBT = Σ(金额 × 晚付天数) ÷ Σ 金额",
        ),
    ),
    Term(
        "dso",
        ("Days sales outstanding (DSO)", "应收账款周转天数（DSO）"),
        (
            "How many days of sales are still unpaid, by the period method (not the "
            "countback); none without sales in the period.",
            "尚未收回的销售额相当于多少天的销售，采用期间法（非倒推法）；期间无销售时不计算。",
        ),
        (
            "DSO = AR at period end ÷ credit sales of the period × days in the period",
            "DSO = 期末应收账款 ÷ 本期赊销额 × 本期天数",
        ),
    ),
    Term(
        "best_dso",
        ("Best possible DSO", "最佳周转天数"),
        (
            "The DSO if every customer paid on time: only receivables not yet due.",
            "假设所有客户按时付款时的周转天数：只计未到期的应收账款。",
        ),
        (
            "best DSO = current (not yet due) AR ÷ credit sales × days",
            "最佳 DSO = 未到期应收账款 ÷ 赊销额 × 天数",
        ),
    ),
    Term(
        "add",
        ("Average days delinquent (ADD)", "平均拖欠天数（ADD）"),
        ("The days DSO loses to late payment.", "因逾期付款而增加的周转天数。"),
        ("ADD = DSO − best DSO", "ADD = DSO − 最佳 DSO"),
    ),
    Term(
        "cei",
        ("Collection effectiveness index (CEI)", "回款效率指数（CEI）"),
        (
            "The share of what could be collected in a period that was collected, in percent.",
            "本期可回收金额中实际回收的比例（百分比）。",
        ),
        (
            "CEI = (beginning AR + sales − ending AR) ÷ (beginning AR + sales − ending current AR) "
            "× 100",
            "CEI = (期初应收 + 本期销售 − 期末应收) ÷ (期初应收 + 本期销售 − 期末未到期应收) × 100",
        ),
    ),
    Term(
        "ageing_bucket",
        ("Ageing bucket", "账龄区间"),
        (
            "Open receivables grouped by days past due: not yet due, 1–30, 31–60, 61–90, "
            "91–120 and over 120 days on the dashboard; the ECL matrix uses 91–180 and over 180.",
            "按逾期天数对未收应收账款分组：看板上为未到期、1–30、31–60、61–90、"
            "91–120 和 120 天以上；"
            "预期信用损失矩阵使用 91–180 和 180 天以上。",
        ),
    ),
    Term(
        "rating",
        ("Rating", "信用等级"),
        (
            "The band a customer's score falls in, under the active scorecard's rating bands; "
            "a rating override on the credit file needs a second person.",
            "客户评分所在的等级区间（按生效评分卡的等级划分）；在信用档案中覆盖等级需第二人批准。",
        ),
        ("score = base points + Σ factor points", "评分 = 基础分 + Σ 各因子得分"),
    ),
    Term(
        "risk_tier",
        ("Risk tier", "风险等级"),
        (
            "The coarser band of the score (the scorecard's tiers), which sets the credit "
            "policy: limits, terms and the review cycle.",
            "评分的粗分区间（评分卡的风险等级划分），决定信用政策：额度、账期和复审周期。",
        ),
    ),
    Term(
        "reason_code",
        ("Reason code", "原因代码"),
        (
            "The factors that cost the customer the most points against their best, worst "
            "first: why the score is what it is.",
            "相对满分失分最多的评分因子，按失分从多到少排列，用于解释评分结果。",
        ),
        ("points lost = factor's maximum − points given", "失分 = 因子满分 − 实际得分"),
    ),
    Term(
        "early_warning",
        ("Early warning", "预警"),
        (
            "A rule over indicators that, when true for a customer, raises an alert before a "
            "loss (a payment slowing, exposure over the limit, complaints rising...).",
            "基于指标的规则，对某客户成立时在损失发生前产生告警（付款变慢、敞口超额、投诉增加等）。",
        ),
    ),
    Term(
        "alert",
        ("Alert", "告警"),
        (
            "One firing of a rule for one customer, worked from open to resolved or dismissed "
            "with an outcome (confirmed or false alarm).",
            "一条规则对一个客户的一次触发，从未处理推进至已解决或已驳回，并记录结论（属实或误报）。",
        ),
    ),
    Term(
        "sla",
        ("Response time (SLA)", "处理时限（SLA）"),
        (
            "The hours the assignee has to act on an alert, set per severity under Credit "
            "policy; an alert is due that long after it is raised, and past it the alert "
            "escalates one level with half the time again. A change applies to alerts raised "
            "afterwards.",
            "被分派人处理预警的小时数，在信用政策中按严重程度设定；预警在产生后相应时间内到期，"
            "超时后升级一级，时限再减半。修改对此后产生的预警生效。",
        ),
    ),
    Term(
        "case",
        ("Case", "案件"),
        (
            "A customer's open alerts gathered in one place, with the timeline, playbook steps "
            "and comments; it closes when its last alert is closed.",
            "一个客户的未结告警汇集在一起，附时间线、处置步骤和评论；最后一条告警关闭时案件关闭。",
        ),
    ),
    Term(
        "playbook",
        ("Playbook", "处置预案"),
        (
            "The steps to take when a rule fires at or above a severity, offered on the case.",
            "规则以某严重程度及以上触发时应采取的步骤，会在案件中作为建议出现。",
        ),
    ),
    Term(
        "review",
        ("Review", "复审"),
        (
            "The periodic re-examination of a customer's credit, due on the next review date; "
            "it records the evidence and a signed-off decision.",
            "对客户信用的定期复查，在下次复审日期到期；记录证据和签署的决定。",
        ),
    ),
    Term(
        "limit_request",
        ("Limit request", "额度申请"),
        (
            "A request for a new credit limit, decided by an approver within their authority.",
            "新信用额度的申请，由审批人在其权限内决定。",
        ),
    ),
    Term(
        "credit_decision",
        ("Credit decision (held order)", "信用决策（被冻结订单）"),
        (
            "The credit check's answer to an order: approved, or held for a person to "
            "release, reject or recheck.",
            "信用检查对订单的结论：通过，或冻结待人工放行、拒绝或重新检查。",
        ),
    ),
    Term(
        "four_eyes",
        ("Four-eyes approval", "双人复核"),
        (
            "A change to a critical field, a rule or scorecard version, a group limit, a model "
            "promotion or an ECL adjustment takes effect only when a second person approves it.",
            "关键字段修改、规则或评分卡版本、集团额度、模型晋升或预期信用损失调整，须经第二人批准后才生效。",
        ),
    ),
    Term(
        "pd",
        ("Probability of default (PD)", "违约概率（PD）"),
        (
            "A model's estimate of the chance that a customer defaults within the horizon.",
            "模型对客户在预测期内违约可能性的估计。",
        ),
    ),
    Term(
        "auc",
        ("AUC", "AUC（曲线下面积）"),
        (
            "Area under the ROC curve: the chance that the model ranks a random defaulter above "
            "a random non-defaulter (0.5 is chance, 1 is perfect).",
            "ROC 曲线下面积：模型把随机一个违约客户排在随机一个未违约客户之前的概率"
            "（0.5 为随机，1 为完美）。",
        ),
    ),
    Term(
        "psi",
        ("Population stability index (PSI)", "群体稳定性指数（PSI）"),
        (
            "How far today's values have shifted from the training data, over the training "
            "deciles (an empty bin counts as 0.0001).",
            "当前数据相对训练数据的偏移程度，按训练数据的十分位分箱计算（空箱按 0.0001 计）。",
        ),
        (
            "PSI = Σ (actual − expected) × ln(actual ÷ expected)",
            "PSI = Σ (实际占比 − 预期占比) × ln(实际占比 ÷ 预期占比)",
        ),
    ),
    Term(
        "hhi",
        ("Herfindahl–Hirschman index (HHI)", "赫芬达尔指数（HHI）"),
        (
            "Concentration of exposure: from near 0 (spread thin) to 10,000 (one customer).",
            "敞口集中度：从接近 0（高度分散）到 10,000（全部集中于一个客户）。",
        ),
        ("HHI = Σ exposure² ÷ (Σ exposure)² × 10,000", "HHI = Σ 敞口² ÷ (Σ 敞口)² × 10,000"),
    ),
    Term(
        "ecl",
        ("Expected credit loss (ECL)", "预期信用损失（ECL）"),
        (
            "The provision for receivables: for each customer, their balance in each ageing "
            "bucket times the adjusted loss rate of their segment.",
            "应收账款的减值准备：每个客户在各账龄区间的余额乘以其细分的调整后损失率。",
        ),
        (
            "ECL = Σ buckets balance × min(historical rate × multiplier, 100%)",
            "ECL = Σ 各区间余额 × min(历史损失率 × 乘数, 100%)",
        ),
    ),
    Term(
        "provision_matrix",
        ("Provision matrix", "准备金矩阵"),
        (
            "Loss rates per segment and ageing bucket, learnt from month-end balances; a "
            "segment with too little history uses the portfolio's rates.",
            "按细分和账龄区间的损失率，由各月末余额推算；历史不足的细分使用整体组合的损失率。",
        ),
        (
            "historical rate of b = Π roll rates from b to the last bucket but one × 100%",
            "区间 b 的历史损失率 = 从 b 到倒数第二个区间的迁徙率连乘 × 100%",
        ),
    ),
    Term(
        "roll_rate",
        ("Roll rate", "迁徙率"),
        (
            "The share of a bucket's balance that eventually rolls into a later bucket, month "
            "end to month end, weighted by balance: of what a bucket held, the share that rolled "
            "on and the share that stayed.",
            "某账龄区间余额最终迁入更后区间的比例，按月末余额加权：以迁出份额和留存份额计算。",
        ),
        ("roll rate = rolled share ÷ (1 − stayed share)", "迁徙率 = 迁出份额 ÷ (1 − 留存份额)"),
    ),
    Term(
        "altman_z",
        ("Altman Z-score", "Altman Z 值"),
        (
            "A distress score from financial statements, with safe, grey and distress zones. "
            "Listed manufacturers with a market value use Z, other manufacturers Z′, others Z″ "
            "(no X5; cut-offs 2.60 and 1.10). X1 = working capital ÷ total assets, X2 = "
            "retained earnings ÷ total assets, X3 = EBIT ÷ total assets, X4 = equity (market "
            "value for Z, book value otherwise) ÷ total liabilities, X5 = revenue ÷ total assets.",
            "根据财务报表计算的困境评分，分为安全、灰色和困境区。有市值的上市制造企业用 Z，"
            "其他制造企业用 Z′，其余用 Z″（不含 X5，临界值为 2.60 和 1.10）。"
            "X1 = 营运资本 ÷ 总资产，X2 = 留存收益 ÷ 总资产，X3 = 息税前利润 ÷ 总资产，"
            "X4 = 所有者权益（Z 用市值，其余用账面值）÷ 总负债，X5 = 营业收入 ÷ 总资产。",
        ),
        (
            "Z = 1.2·X1 + 1.4·X2 + 3.3·X3 + 0.6·X4 + 1.0·X5 (safe > 2.99, distress < 1.81)",
            "Z = 1.2·X1 + 1.4·X2 + 3.3·X3 + 0.6·X4 + 1.0·X5（安全 > 2.99，困境 < 1.81）",
        ),
    ),
    Term(
        "bgnbd",
        ("BG/NBD churn model", "BG/NBD 流失模型"),
        (
            "Each customer buys at their own rate while active and may drop out after any "
            "purchase; from repeat purchases, the last one and the time since the first, it "
            "gives the probability the customer is still active.",
            "每个客户在活跃期间以各自的频率购买，并可能在任意一次购买后流失；根据重复购买次数、"
            "最近一次购买时间和首次购买至今的时间，估计客户仍然活跃的概率。",
        ),
    ),
)

GLOSSARY_BY_KEY = {t.key: t for t in GLOSSARY}


@dataclass(frozen=True)
class Step:
    """One step of a practice walkthrough."""

    title: Text
    do: Text
    look: Text
    link: str  # a UI path; "{customer}", "{case}": a customer, an open case the user may see
    check: str | None = None  # a key of help_pages.CHECKS: has the user done it?


@dataclass(frozen=True)
class Guide:
    """A role's getting-started guide and practice walkthrough."""

    role: Role
    demo_user: str  # the demo login (riskdesk.demo.loader)
    start: tuple[Text, ...]  # getting started: paragraphs
    screens: tuple[str, ...]  # the screens this role uses most
    steps: tuple[Step, ...] = field(default_factory=tuple)


S = Step
CUSTOMER = "/customers/{customer}"

GUIDES: tuple[Guide, ...] = (
    Guide(
        Role.CREDIT_MANAGER,
        "manager",
        (
            (
                "You own the credit policy and the decisions above the analysts: you start on "
                "the portfolio dashboard, watch concentration and ageing, approve critical "
                "changes, limits, group limits and ECL adjustments as the second person.",
                "您负责信用政策和高于风控专员权限的决定：从组合看板开始，关注集中度和账龄，"
                "作为第二人批准关键修改、额度、集团额度和预期信用损失调整。",
            ),
            (
                "Each day: the portfolio, then approvals, limit requests and held orders.",
                "每日工作：先看组合看板，再处理审批、额度申请和被冻结订单。",
            ),
        ),
        ("portfolio", "approvals", "limit_requests", "worklist", "ecl", "groups"),
        (
            S(
                ("Read the portfolio", "阅读组合看板"),
                ("Open the dashboard and filter one region.", "打开看板并筛选一个区域。"),
                (
                    "Utilisation over 100% and the largest exposures; DSO against best DSO.",
                    "使用率超过 100% 的客户和最大敞口；DSO 与最佳 DSO 的差距。",
                ),
                "/portfolio",
            ),
            S(
                ("Decide a limit request", "决定一笔额度申请"),
                ("Approve or reject a pending request.", "批准或驳回一笔待决定的申请。"),
                (
                    "Your approval authority caps what you may approve.",
                    "您的审批权限限制可批准的金额。",
                ),
                "/limit-requests",
                "limit_decided",
            ),
            S(
                ("Approve a change", "审批一项修改"),
                (
                    "Approve or reject a change someone else asked for.",
                    "批准或驳回他人提出的修改。",
                ),
                ("The old and new value of each field.", "每个字段的原值和新值。"),
                "/approvals",
                "change_decided",
            ),
            S(
                ("Release a held order", "放行被冻结订单"),
                (
                    "Release, reject or recheck one held order.",
                    "放行、拒绝或重新检查一笔被冻结订单。",
                ),
                ("Why the check held it, and the available credit.", "被冻结的原因和可用额度。"),
                "/worklist",
                "order_resolved",
            ),
            S(
                ("Read the provision", "阅读减值准备"),
                ("Open the latest ECL run.", "打开最近一次预期信用损失计算。"),
                ("Loss rates per bucket and segment.", "各账龄区间和细分的损失率。"),
                "/ecl",
            ),
        ),
    ),
    Guide(
        Role.RISK_ANALYST,
        "analyst",
        (
            (
                "You work the alerts the rules raise, keep the rules and scorecards sharp, and "
                "review customers. Your home is your alert queue.",
                "您处理规则产生的告警，维护规则和评分卡，并对客户进行复审。您的首页是您的告警队列。",
            ),
            (
                "Each day: acknowledge new alerts, work the cases, close alerts with an "
                "outcome; then reviews due.",
                "每日工作：确认新告警，处理案件，关闭告警并记录结论；然后处理到期复审。",
            ),
        ),
        ("alerts", "cases", "rules", "reviews", "scorecards", "models"),
        (
            S(
                ("Open your queue", "打开您的队列"),
                ("Open the alert queue, most at stake first.", "打开告警队列，按风险大小排序。"),
                ("Severity, SLA and the customer's exposure.", "严重程度、时效和客户敞口。"),
                "/alerts",
            ),
            S(
                ("Work an alert", "处理一条告警"),
                (
                    "Acknowledge an open alert, then take it in progress.",
                    "确认一条未处理告警，再将其设为处理中。",
                ),
                ("It becomes yours if no one had it.", "如果尚未分派，它会分派给您。"),
                "/alerts?status=open",
                "alert_worked",
            ),
            S(
                ("Comment on a case", "在案件中评论"),
                (
                    "Open the case most at stake and comment on one of its alerts.",
                    "打开风险最大的案件，并对其中一条告警发表评论。",
                ),
                ("The evidence and the playbook steps offered.", "证据和建议的处置步骤。"),
                "/cases/{case}",
                "case_commented",
            ),
            S(
                ("Close an alert", "关闭告警"),
                ("Resolve or dismiss it with an outcome.", "以解决或驳回关闭告警，并记录结论。"),
                ("Outcomes feed the rule's effectiveness.", "结论会计入规则的有效性统计。"),
                "/alerts",
                "alert_closed",
            ),
            S(
                ("Sign off a review", "签署复审"),
                ("Start a review from the queue and sign it off.", "从队列中发起复审并签署完成。"),
                ("The evidence captured when it opened.", "发起时保存的证据。"),
                "/reviews",
                "review_signed",
            ),
        ),
    ),
    Guide(
        Role.SALES,
        "sales",
        (
            (
                "You see your own customers: their limits, exposure, held orders and alerts. "
                "You may ask for a higher limit and attach documents to the credit file.",
                "您只能看到自己的客户：额度、敞口、被冻结订单和告警。您可以申请提高额度，并向信用档案上传附件。",
            ),
        ),
        ("home", "customer", "limit_requests", "alerts"),
        (
            S(
                ("Your home", "您的首页"),
                ("Open your home page.", "打开您的首页。"),
                ("Held orders and customers near their limit.", "被冻结订单和接近额度上限的客户。"),
                "/home/sales",
            ),
            S(
                ("Read a credit file", "阅读信用档案"),
                ("Open one of your customers.", "打开您的一位客户。"),
                (
                    "Available credit and the reason codes of the score.",
                    "可用额度和评分的原因代码。",
                ),
                CUSTOMER,
            ),
            S(
                ("Ask for a limit", "申请额度"),
                (
                    "From the credit file, request a new limit with a reason.",
                    "在信用档案中填写理由申请新额度。",
                ),
                ("It appears on the limit requests list.", "申请会出现在额度申请列表中。"),
                CUSTOMER,
                "limit_requested",
            ),
        ),
    ),
    Guide(
        Role.CUSTOMER_SERVICE,
        "service",
        (
            (
                "You answer complaints within their SLA and record satisfaction; complaints "
                "feed the customer's risk indicators at once.",
                "您需要在时效内回复投诉并登记满意度；投诉会立即影响客户的风险指标。",
            ),
        ),
        ("complaints", "home", "alerts"),
        (
            S(
                ("Your desk", "您的投诉台"),
                ("Open the complaint desk.", "打开投诉台。"),
                ("Complaints close to their response deadline.", "接近响应期限的投诉。"),
                "/complaints",
            ),
            S(
                ("Answer a complaint", "回复投诉"),
                ("Write an answer to an open complaint.", "回复一条未结投诉。"),
                ("The first answer stops the response clock.", "首次回复即停止响应计时。"),
                "/complaints",
                "complaint_answered",
            ),
        ),
    ),
    Guide(
        Role.AUDITOR,
        "auditor",
        (
            (
                "You read everything and change nothing: the audit log, approvals by person and "
                "who saw personal data.",
                "您可以查看所有内容但不能修改：审计日志、按人统计的审批以及谁查看了个人数据。",
            ),
        ),
        ("audit", "home", "ecl"),
        (
            S(
                ("Your home", "您的首页"),
                ("Open your home page.", "打开您的首页。"),
                (
                    "Approvals by person and reveals of personal data.",
                    "按人统计的审批和个人数据查看。",
                ),
                "/home/auditor",
            ),
            S(
                ("Search the log", "查询日志"),
                ("Filter the audit log by person or object.", "按人员或对象筛选审计日志。"),
                ("Run the chain check.", "运行链式校验。"),
                "/audit",
            ),
        ),
    ),
    Guide(
        Role.ADMIN,
        "admin",
        (
            (
                "You run the system: users, API tokens, imports, integrations and background "
                "jobs. You own no credit decisions.",
                "您负责运行系统：用户、API 令牌、数据导入、系统集成和后台作业。您不做信用决策。",
            ),
        ),
        ("home", "users", "tokens", "imports", "jobs", "integrations"),
        (
            S(
                ("Your home", "您的首页"),
                ("Open your home page.", "打开您的首页。"),
                ("Failed jobs and deliveries.", "失败的作业和投递。"),
                "/home/admin",
            ),
            S(
                ("Users", "用户"),
                ("Open the user list.", "打开用户列表。"),
                ("Who is locked out, and until when.", "谁被锁定以及锁定至何时。"),
                "/users",
            ),
            S(
                ("Save your notification settings", "保存您的通知设置"),
                ("Choose how you want to be told, and save.", "选择通知方式并保存。"),
                ("Settings are per person.", "设置按个人保存。"),
                "/me/notifications",
                "notifications_saved",
            ),
        ),
    ),
)

GUIDES_BY_ROLE = {g.role.value: g for g in GUIDES}
