"""SkillSub common package: contracts and plumbing only, never business rules."""
