/** How a tenant's workflows are found inside its namespace, as the plan says and as queries use it. */

/** The plan's tenant selector (`namespaces.<ns>.tenants.selector`): `{tenant}` stands for the tenant ID. */
export type TenantSelector = { searchAttribute: string } | { workflowIdPrefix: string };

/** A selector with the tenant filled in: the exact prefix, or the attribute and its value. */
export type TenantFilter = { searchAttribute: string; value: string } | { workflowIdPrefix: string };
