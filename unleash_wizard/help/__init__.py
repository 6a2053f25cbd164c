"""Help pictures: drawn Entra admin center screens (illustrations), later screenshots."""
