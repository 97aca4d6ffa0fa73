"""Two small projects for the diff tests: NEW differs from OLD in every category the diff
reports (see the comments in NEW_FILES)."""

from __future__ import annotations

OLD_FILES = {
    "tailor.yaml": "name: shop\nlanguages: [en, zh]\ncurrency: CNY\n",
    "entities/customer.yaml": """
        entity: customer
        label: {en: Customer, zh: 客户}
        fields:
          name: {type: string, label: {en: Name, zh: 名称}, required: true}
          phone: {type: string, label: {en: Phone, zh: 电话}}
          notes: {type: text, label: {en: Notes, zh: 备注}}
          score: {type: integer, label: {en: Score, zh: 评分}}
          old_code: {type: string, label: {en: Code, zh: 编码}}
          email_addr: {type: string, label: {en: E-mail, zh: 邮箱}, index: true}
          level:
            type: choice
            label: {en: Level, zh: 等级}
            options:
              - {value: a, label: {en: A, zh: 甲}}
              - {value: b, label: {en: B, zh: 乙}}
              - {value: c, label: {en: C, zh: 丙}}
        rules:
          - name: score_positive
            check: "score == None or score >= 0"
            message: {en: The score cannot be negative., zh: 评分不能为负数。}
        """,
    "entities/legacy.yaml": """
        entity: legacy
        label: {en: Legacy, zh: 旧数据}
        fields:
          title: {type: string, label: {en: Title, zh: 标题}}
        """,
    "entities/archive.yaml": """
        entity: archive
        label: {en: Archive, zh: 归档}
        fields:
          title: {type: string, label: {en: Title, zh: 标题}}
        """,
    "entities/deal.yaml": """
        entity: deal
        label: {en: Deal, zh: 交易}
        fields:
          title: {type: string, label: {en: Title, zh: 标题}}
          amount: {type: decimal, label: {en: Amount, zh: 金额}}
          status:
            type: choice
            label: {en: Status, zh: 状态}
            default: draft
            options:
              - {value: draft, label: {en: Draft, zh: 草稿}}
              - {value: submitted, label: {en: Submitted, zh: 已提交}}
              - {value: approved, label: {en: Approved, zh: 已批准}}
              - {value: rejected, label: {en: Rejected, zh: 已驳回}}
        """,
    "roles.yaml": """
        roles:
          sales:
            label: {en: Sales, zh: 销售}
            entities:
              customer: {actions: [read, update], scope: all, fields: {phone: read}}
              deal: {actions: [read, create, update], scope: own}
          temp:
            label: {en: Temporary, zh: 临时}
            entities:
              customer: {actions: [read], scope: all}
          manager:
            label: {en: Manager, zh: 经理}
            entities:
              deal: {actions: [read, update], scope: all}
        """,
    "workflows/deal.yaml": """
        workflow: deal
        entity: deal
        field: status
        label: {en: Deal approval, zh: 交易审批}
        states:
          draft: {editable: true}
          submitted: {editable: false}
          approved: {editable: false}
          rejected: {editable: true}
        transitions:
          submit:
            from: [draft, rejected]
            to: submitted
            label: {en: Submit, zh: 提交}
            approval: deal_approval
        approvals:
          deal_approval:
            label: {en: Deal approval, zh: 交易审批}
            outcomes: {approved: approved, rejected: rejected, withdrawn: draft, returned: draft}
            nodes:
              check:
                type: approval
                label: {en: Manager check, zh: 经理审核}
                approvers: [{role: manager}]
        """,
}

NEW_FILES = {
    # project: the currency
    "tailor.yaml": "name: shop\nlanguages: [en, zh]\ncurrency: USD\n",
    "entities/customer.yaml": """
        entity: customer
        label: {en: Client, zh: 客户}               # entity label
        fields:
          name: {type: string, label: {en: Name, zh: 名称}}          # no longer required
          phone: {type: string, label: {en: Phone, zh: 电话}, hidden: true}   # hidden
          score: {type: decimal, label: {en: Score, zh: 评分}}       # type integer -> decimal
          code: {type: string, label: {en: Code, zh: 编码}, renamed_from: old_code}   # renamed
          email_addr: {type: string, label: {en: E-mail, zh: 邮箱}}  # its index removed
          website: {type: string, label: {en: Website, zh: 网站}, index: true}   # added (and indexed)
          level:
            type: choice
            label: {en: Level, zh: 等级}
            options:
              - {value: a, label: {en: A, zh: 甲}}
              - {value: b, label: {en: Better, zh: 较好}}   # relabelled
              - {value: d, label: {en: D, zh: 丁}}          # added (c removed)
          # notes: removed (its column would be dropped only with --allow-destructive)
        rules:
          - name: score_positive
            check: "score == None or score >= 0"
            message: {en: The score cannot be negative., zh: 评分不能为负数。}
          - name: name_or_code
            check: "name != None or code != None"
            message: {en: Give a name or a code., zh: 请填写名称或编码。}
        """,
    # legacy: removed
    "entities/archive.yaml": """
        entity: archive
        label: {en: Archive, zh: 归档}
        hidden: true
        fields:
          title: {type: string, label: {en: Title, zh: 标题}}
        """,
    "entities/deal.yaml": OLD_FILES["entities/deal.yaml"],
    "entities/ticket.yaml": """
        entity: ticket
        label: {en: Ticket, zh: 工单}
        fields:
          subject: {type: string, label: {en: Subject, zh: 主题}, required: true}
        """,
    "roles.yaml": """
        roles:
          sales:
            label: {en: Sales, zh: 销售}
            entities:
              customer: {actions: [read, update, create], scope: all, fields: {phone: hidden}}
              deal: {actions: [read, create, update], scope: all}
              ticket: {actions: [read], scope: all}
          manager:
            label: {en: Manager, zh: 经理}
            entities:
              deal: {actions: [read, update], scope: all}
          support:
            label: {en: Support, zh: 客服}
            entities:
              ticket: {actions: [read, create, update], scope: all}
        """,
    "workflows/deal.yaml": """
        workflow: deal
        entity: deal
        field: status
        label: {en: Deal approval, zh: 交易审批}
        states:
          draft: {editable: true}
          submitted: {editable: false}
          approved: {editable: false, fields: {title: edit}}
          rejected: {editable: true}
        transitions:
          submit:
            from: [draft, rejected]
            to: submitted
            label: {en: Submit, zh: 提交}
            approval: deal_approval
          reopen:
            from: rejected
            to: draft
            label: {en: Reopen, zh: 重新打开}
        approvals:
          deal_approval:
            label: {en: Deal approval, zh: 交易审批}
            outcomes: {approved: approved, rejected: rejected, withdrawn: draft, returned: draft}
            nodes:
              big:
                type: condition
                label: {en: Big deal?, zh: 大额交易？}
                cases:
                  - {when: "amount > 10000", next: check}
                default: end
              check:
                type: approval
                label: {en: Manager check, zh: 经理审核}
                approvers: [{role: manager}]
                comment: required
        """,
}
