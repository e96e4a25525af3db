"""Forms that validate the dashboard's query strings."""

from django import forms


class PageForm(forms.Form):
    """The ``page`` and ``per_page`` query parameters of a job list."""

    page = forms.IntegerField(min_value=1, required=False)
    per_page = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(self, *args, per_page_choices=(10, 25, 50, 100), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["per_page"].choices = [(n, str(n)) for n in per_page_choices]
