"""行业主管部门: the departments that organise subsidised training (RULES.md, 十二 and the reporting
duties: reports per county/district and per department).

The HR & social-security bureau aggregates all training (人社部门牵头汇总), so training whose class
names no department is filed under it.
"""

from __future__ import annotations

from typing import Literal, get_args

Department = Literal[
    "人社局", "农业农村局", "退役军人事务局", "教育局", "工信局", "住建局", "交通运输局", "商务局",
    "卫健委", "应急管理局", "民政局", "市场监管局", "残联", "总工会", "妇联", "团市委",
]
DEPARTMENTS: tuple[str, ...] = get_args(Department)
AGGREGATOR: Department = "人社局"
