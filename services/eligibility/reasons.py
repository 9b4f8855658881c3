"""Reason codes with Chinese and English text, one constant per reason."""

from __future__ import annotations

from .decision import Reason

R = Reason

# Who and what (per clause)
NOT_EMPLOYED = R("not_employed", "申请人不在职", "the person is not employed")
NO_CONTRACT_YEAR = R(
    "contract_under_one_year", "未签订一年以上期限劳动合同",
    "no labour contract of at least one year",
)
TRAINING_NOT_WITHIN_HIRE_WINDOW = R(
    "training_not_within_12_months_of_hire", "培训未在录用之日起12个月内开始",
    "training did not start within 12 months of hiring",
)
NO_TRAINING_START = R("training_start_unknown", "培训开始日期未知", "training start date unknown")
WRONG_KIND = R("certificate_kind_not_covered", "证书类别不在本项范围内",
               "the certificate kind is not covered by this clause")
WRONG_LEVEL = R("level_not_covered", "证书等级不在本项范围内",
                "the certificate level is not covered by this clause")
BEFORE_START_DATE = R("before_start_date", "取证日期早于本项起始日期",
                      "the certificate was obtained before this clause's start date")
UI_MONTHS_SHORT = R("ui_contributions_under_minimum", "累计缴纳失业保险费不足规定月数",
                    "cumulative unemployment-insurance contributions below the minimum")
PENSION_MONTHS_SHORT = R("pension_contributions_under_minimum", "企业职工养老保险缴费不满规定月数",
                         "enterprise pension contributions below the minimum")
NOT_NANTONG_EMPLOYER = R("not_employed_and_insured_in_nantong", "用人单位不在我市登记注册",
                         "the employer is not registered in Nantong (its credit code's division)")
EMPLOYER_PLACE_UNKNOWN = R("employer_place_unknown", "就业登记记录未载明用人单位登记地，无法核对是否为我市企业",
                           "the employment record does not say where the employer is registered: "
                           "whether it is a Nantong enterprise is unknown")
INSURED_OUTSIDE_NANTONG = R("pension_insured_outside_nantong", "企业职工养老保险参保地不在我市",
                            "the person is pension-insured outside Nantong")
INSURED_PLACE_UNKNOWN = R("pension_insured_place_unknown", "无载明参保地的企业职工养老保险记录，无法核对是否在我市参保",
                          "no pension-insurance record names the insuring region: whether the person is "
                          "insured in Nantong is unknown")
NOT_FURTHER_EDUCATION = R("not_further_education", "非在职接受更高水平学历教育取得",
                          "the degree was not obtained through further education")
AWAITING_FACTS = R(
    "awaiting_holder_facts", "尚未收到持证人的就业、失业或参保信息，等待期内暂缓决定",
    "none of the holder's employment, unemployment or insurance facts has arrived yet: decision waits")
AWAITING_RECORD = R(
    "awaiting_record", "所需记录尚未收到（见其余原因），等待期内暂缓决定",
    "a record the decision needs has not arrived yet (named by the other reasons): decision waits")
INSTITUTION_NOT_LISTED = R(
    "institution_not_listed", "培训开始时培训机构未列入政府培训和评价机构目录（九、十七）",
    "the training institution was not in the catalogue of training and evaluation institutions when the "
    "training started (九, 十七)")
INSTITUTION_NOT_LISTED_FOR_OCCUPATION = R(
    "institution_not_listed_for_occupation", "培训开始时培训机构未就该职业（工种）等级列入机构目录（九、十七）",
    "the training institution was not catalogued for this occupation and level when the training started (九, 十七)")
NOT_IN_CATALOG = R("not_in_catalog", "证书职业（工种）等级不在《目录》内",
                   "the occupation and level are not in the Catalog")
OUT_OF_CATALOG_AT_COST = R("out_of_catalog_at_cost", "目录外工种按实际培训成本和考核费核定，需提供凭证",
                           "out-of-Catalog trade: actual training cost and assessment fee, "
                           "on evidence")
SHORTAGE = R("shortage_occupation", "属当年市场紧缺职业（工种）",
             "the occupation is on that year's shortage list")
NOT_REGISTERED_UNEMPLOYED = R("not_registered_unemployed", "非城乡登记失业人员",
                              "the person is not registered unemployed")
HOURS_NOT_COMPLETED = R("required_hours_not_completed", "未学完规定课时",
                        "the required training hours were not completed")
NOT_STUDENT_OR_UNEMPLOYED = R("not_student_or_unemployed", "非毕业前两年在校大学生或城乡失业人员",
                              "neither a student in the last two years nor unemployed")
UNKNOWN_TRAINING_KIND = R("training_kind_not_covered", "培训类型不在本项范围内",
                          "the training kind is not covered by this clause")
PROVINCIAL_SUBSIDY_RECEIVED = R("provincial_high_skill_subsidy_received",
                                "已享受省高技能人才紧缺型培训补贴，不得重复享受",
                                "the provincial high-skill shortage subsidy was already received "
                                "for this certificate")
PROVINCIAL_NOTE = R("provincial_subsidy_exclusive", "本补贴与省高技能人才紧缺型培训补贴不得重复享受",
                    "this subsidy excludes the provincial high-skill shortage subsidy")
NO_PARAMETERS = R("no_parameters_in_force", "该日期无有效补贴参数",
                  "no parameters are in force on that date")
OUTSIDE_PLAN_PERIOD = R("outside_plan_period", "不在职业技能提升行动实施期内（通政办发〔2019〕112号）",
                        "outside the plan period of 通政办发〔2019〕112号")
NOT_ON_THE_JOB_TRAINING = R("not_on_the_job_training", "无在岗或转岗转业培训的记录",
                            "no record shows on-the-job or job-transfer training")
APPLIED_TOO_LATE = R("applied_after_window", "超过取证之日起的申请期限",
                     "the registry received the certificate after the application window")
RECEIPT_DAY_UNKNOWN = R("receipt_day_unknown", "证书报送日期未知，无法核对申请期限",
                        "the day the registry received the certificate is unknown")
CLASS_UNKNOWN = R("training_class_unknown", "证书未关联培训班，无法核对学时",
                  "the certificate names no training class, so completed hours cannot be checked")
HOURS_UNKNOWN = R("completed_hours_unknown", "无结业学时记录，无法核对是否学完规定课时",
                  "no completion record with hours: whether the required hours were completed is unknown")
DEGREE_RECORD_MISSING = R("degree_record_missing", "教育部门无该学历证书的记录",
                          "the education feeder has no record of this degree certificate")
DEGREE_BELOW_ASSOCIATE = R("degree_below_associate", "学历低于大专", "the degree is below associate level")
PENSION_ENTITLED = R("entitled_to_monthly_pension", "具有按月领取养老金资格人员不在补贴范围内",
                     "people entitled to a monthly pension are out of scope")
IN_SCOPE_BY_13_3 = R("in_scope_by_13_3", "有培训需求、不具有按月领取养老金资格，按第十三.3项纳入补贴范围",
                     "in scope under 十三.3: training needs and no entitlement to a monthly pension")
REPEAT_KEY_UNKNOWN = R("repeat_identity_unknown", "证书未载明职业（工种）、作业项目或培训项目，无法核对是否重复享受",
                       "the certificate names no occupation, operation item or project: a repeat cannot be ruled out")
PAYEE_UNKNOWN = R("payee_unknown", "现有记录未载明应付款单位", "the records do not name the enterprise or "
                  "institution to pay")
EMPLOYER_UNKNOWN = R("employer_unknown", "无就业登记记录，用人单位未知", "no employment record names the employer")

# Non-certificate triggers
CLASS_TOO_SMALL = R("order_class_too_small", "订单班人数不足规定规模",
                    "the order class is smaller than the minimum")
UP_TO_AMOUNT = R("amount_up_to", "金额为“最高”标准，需审核核定",
                 "the plan sets a maximum amount; a reviewer fixes the amount")
LEVEL_NOT_IN_TABLE = R("apprentice_level_not_in_table", "学徒培训未达到中级工及以上水平",
                       "the apprenticeship did not reach level 4 or above")
APPRENTICE_YEAR_DONE = R("apprenticeship_year_already_subsidised", "该学徒年度已享受补贴",
                         "this apprenticeship year was already subsidised")
NOT_TARGET_GROUP = R("not_target_group", "不属于本项所列人员",
                     "the person is not in the group this clause names")
EMPLOYER_NOT_INSURED = R("employer_not_insured", "吸纳就业困难人员的企业须为参保企业",
                         "an employer of employment-difficulty persons must be insured")
UNKNOWN_EMPLOYER_KIND = R("employer_kind_not_covered", "用人主体类型不在本项范围内",
                          "the employer kind is not covered by this clause")
ALREADY_DECIDED = R("already_subsidised", "该事项已享受补贴", "this was already subsidised")
NO_DAYS = R("nothing_to_pay", "无可补贴的月数或天数", "no months or days to pay")

# 十三 and mutual exclusions
PENSION_DRAWER = R("draws_monthly_pension", "按月领取养老金人员不在补贴范围内",
                   "people drawing a monthly pension are out of scope")
NOT_OBTAINED_IN_NANTONG = R("not_obtained_in_nantong", "该类证书须在我市获证",
                            "this kind of certificate must be obtained in Nantong")
ISSUE_PLACE_UNKNOWN = R("issue_place_unknown", "证书发证机构登记地未知，无法核对是否在我市获证",
                        "where the issuer is registered is unknown: whether the certificate was obtained "
                        "in Nantong cannot be checked")
YEAR_CAP_REACHED = R("yearly_cap_reached", "本年度已享受培训补贴达到上限",
                     "the yearly number of training subsidies is reached")
SAME_OCCUPATION_LEVEL = R("same_occupation_and_level", "同一职业同一等级不可重复享受",
                          "a subsidy for the same occupation and level was already granted")
DEGREE_REWARD_TAKEN = R("degree_reward_already_received", "学历提升奖励仅可享受一次",
                        "the one-time degree reward was already received")
WORK_TRAINING_MONTHS_USED = R("work_training_months_exhausted", "以工代训补贴已达最长期限",
                              "the maximum months of training-through-work are used")
WORK_TRAINING_CAPPED = R("work_training_months_capped", "以工代训月数按最长期限核减",
                         "months reduced to the maximum for training-through-work")
DRAWING_UI_BENEFIT = R("drawing_ui_benefit", "领取失业保险金期间不得享受生活费补贴",
                       "no living allowance while drawing unemployment benefit")
EXCLUDED_BY_53 = R("excluded_by_work_training", "同一新录用人员已享受以工代训补贴",
                   "training-through-work was already granted for this hire")
EXCLUDED_BY_42 = R("excluded_by_pre_job_training", "同一新录用人员已享受岗前培训补贴",
                   "pre-job training subsidy was already granted for this hire")
FAMILY_TREATED_ALIKE = R("family_treated_as_person", "按贫困或重度残疾人直系亲属同等对待",
                         "treated as an immediate family member of a poor or severely "
                         "disabled person")
REVOKED = R("certificate_revoked", "证书已撤销，冲回其引起的补贴",
            "the certificate was revoked; its subsidies are reversed")
