"""bench/simple's clause 营收分档奖励 as an OpenFisca country package: the model compare.py times
in process, and the one `openfisca serve --country-package huiqi_bench_country` answers over
OpenFisca's Web API in bench/serve.sh (PYTHONPATH=bench/openfisca).
"""

import numpy as np
from openfisca_core.entities import build_entity
from openfisca_core.parameters import ParameterNode
from openfisca_core.periods import DateUnit
from openfisca_core.taxbenefitsystems import TaxBenefitSystem
from openfisca_core.variables import Variable

WAN = 10_000  # 1万元


# ---------------------------------------------------------------- OpenFisca model
Firm = build_entity(key="firm", plural="firms", label="企业", is_person=True)


class revenue(Variable):
    value_type = float  # OpenFisca stores float variables as numpy float32
    entity = Firm
    definition_period = DateUnit.YEAR
    label = "营业收入（元）"


class tiered_award(Variable):
    value_type = float
    entity = Firm
    definition_period = DateUnit.YEAR
    label = "营收分档奖励（元）"
    reference = "bench/simple/policy.hq 基准第一条"

    def formula(firm, period, parameters):
        r = firm("revenue", period)
        amount = np.select(
            [r < 1000 * WAN, r < 5000 * WAN, r < 20000 * WAN],
            [0, 10 * WAN, 30 * WAN],
            default=np.round(r * 0.002, 2),  # 0.2%, rounded to the 分 (in float32)
        )
        return np.minimum(amount, 50 * WAN)  # cap 50万


def tax_benefit_system():
    tbs = TaxBenefitSystem([Firm])
    tbs.add_variables(revenue, tiered_award)
    return tbs


class CountryTaxBenefitSystem(TaxBenefitSystem):
    """What `openfisca serve` loads: the Firm entity and the two variables."""

    def __init__(self):
        super().__init__([Firm])
        self.add_variables(revenue, tiered_award)
        # The Web API needs at least one parameter to describe; the formula keeps its figures
        # inline (as compare.py has always timed it), the cap is listed here for readers.
        self.parameters = ParameterNode(
            "",
            data={
                "cap": {
                    "description": "营收分档奖励 上限（元）",
                    "values": {"2022-01-01": {"value": 50 * WAN}},
                }
            },
        )
