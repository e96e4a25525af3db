"""Forms that validate the dashboard's query strings and action posts."""

from django import forms

ORDER_CHOICES = [("desc", "newest first"), ("asc", "oldest first")]


class PageForm(forms.Form):
    """The query parameters of a job list: page, size, order, search, filters."""

    page = forms.IntegerField(min_value=1, required=False)
    per_page = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    o = forms.ChoiceField(choices=ORDER_CHOICES, required=False)
    q = forms.CharField(max_length=200, required=False, strip=True)
    exc_class = forms.CharField(max_length=200, required=False, strip=True)
    func = forms.CharField(max_length=500, required=False, strip=True)

    def __init__(self, *args, per_page_choices=(10, 25, 50, 100), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["per_page"].choices = [(n, str(n)) for n in per_page_choices]


class ActionForm(forms.Form):
    """A bulk action posted from a job list, as the admin's actions bar sends it.

    ``_selected_action`` contains the checked job ids. ``select_across`` is "1"
    when the user chose "select all", which means every job of the list that
    matches the current filter. ``post`` is set by the confirmation page.
    """

    action = forms.CharField(max_length=50)
    select_across = forms.BooleanField(required=False)
    post = forms.CharField(required=False)

    def __init__(self, data, **kwargs):
        super().__init__(data, **kwargs)
        self.selected_ids = [
            job_id for job_id in data.getlist("_selected_action") if job_id
        ]
