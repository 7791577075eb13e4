DROP TABLE system_policy;
DROP TABLE project_policies;
DROP TABLE project_budgets;
DROP TABLE agents;
DROP TABLE projects;
